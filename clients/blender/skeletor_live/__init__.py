"""Skeletor Live for Blender: drive an armature live from ``skeletor-live``'s rig (the ``rotations`` field).

Install: zip this folder (``skeletor_live/``) and pick the zip in Edit > Preferences > Add-ons >
Install (Blender 3.6 or newer; nothing else to install). Then, in the 3D view's sidebar (N),
tab "Skeletor": pick the armature, the stream URL (``ws://127.0.0.1:8765/ws``), Connect.

The armature's rest pose should be a T-pose with the avatar facing -Y (Blender's front view)
and its feet at the object's origin, as VRM / Mixamo imports are; "Align rest" also follows an
A-pose rest. Bones are matched by name: the rig's Unity ``HumanBodyBones`` names (a VRM or
Unity-style armature) or Mixamo's (``mixamorig:LeftArm``, ...). Bones it does not find stay as
they are.

How it runs: a thread (``stream.py``) receives frames and keeps the newest; a Blender timer,
60 times a second, takes it and sets the pose bones' rotations (``rig_pose.py``, which needs no
Blender and is tested on its own). Nothing waits on the network in Blender's own thread.
"""

from __future__ import annotations

bl_info = {
    "name": "Skeletor Live",
    "author": "Skeletor Live",
    "version": (0, 1, 0),
    "blender": (3, 6, 0),
    "location": "View3D > Sidebar > Skeletor",
    "description": "Drive an armature live from skeletor-live's bone rotations (websocket)",
    "category": "Animation",
}

import bpy  # noqa: E402

from . import rig_pose  # noqa: E402
from .stream import StreamThread  # noqa: E402

_state: dict = {"stream": None, "armature": None, "bones": None, "map": None, "first_hips": None}


def _armature_info(obj: bpy.types.Object) -> dict[str, rig_pose.ArmatureBone]:
    """The armature's bones: parents and rest orientations (armature space)."""
    return {
        b.name: rig_pose.ArmatureBone(
            b.name, b.parent.name if b.parent else None, tuple(b.matrix_local.to_quaternion()), tuple(b.head_local)
        )
        for b in obj.data.bones
    }


def _tick() -> float | None:
    """Blender timer: apply the newest frame (if any) to the armature."""
    stream: StreamThread | None = _state["stream"]
    if stream is None:
        return None
    props = bpy.context.scene.skeletor_live
    obj = props.armature
    frame = stream.take()
    if frame is None or obj is None or obj.type != "ARMATURE" or stream.rig is None:
        return 1 / 60
    if _state["armature"] != obj.name:  # (re)read the armature when it changes
        _state["armature"], _state["bones"] = obj.name, _armature_info(obj)
        _state["map"] = rig_pose.guess_bone_map(stream.rig["bones"], list(_state["bones"]))
        _state["first_hips"] = None
    rot_obj = tuple(obj.matrix_world.to_quaternion())
    basis = rig_pose.pose_basis(
        frame, stream.rig["bones"], stream.rig["parents"], stream.rest_offsets, _state["bones"], _state["map"], rot_obj, props.align_rest
    )
    for name, q in basis.items():
        pb = obj.pose.bones[name]
        pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = q
    hips = _state["map"].get("Hips")
    if props.move_hips and hips:
        if _state["first_hips"] is None:
            _state["first_hips"] = frame.hips
        obj.pose.bones[hips].location = rig_pose.hips_location(frame.hips, _state["first_hips"], _state["bones"][hips], rot_obj)
    return 1 / 60


class SkeletorLiveProps(bpy.types.PropertyGroup):
    url: bpy.props.StringProperty(name="Stream", default="ws://127.0.0.1:8765/ws")  # type: ignore[valid-type]
    token: bpy.props.StringProperty(name="Token", default="", subtype="PASSWORD")  # type: ignore[valid-type]
    armature: bpy.props.PointerProperty(name="Armature", type=bpy.types.Object, poll=lambda _, o: o.type == "ARMATURE")  # type: ignore[valid-type]
    move_hips: bpy.props.BoolProperty(name="Move hips", default=True)  # type: ignore[valid-type]
    align_rest: bpy.props.BoolProperty(name="Align rest (A-pose rigs)", default=True)  # type: ignore[valid-type]


class SKELETOR_OT_connect(bpy.types.Operator):
    """Connect to skeletor-live and drive the armature"""

    bl_idname = "skeletor_live.connect"
    bl_label = "Connect"

    def execute(self, context: bpy.types.Context) -> set[str]:
        _disconnect()
        props = context.scene.skeletor_live
        stream = StreamThread(props.url, props.token)
        stream.start()
        _state.update(stream=stream, armature=None)
        bpy.app.timers.register(_tick, first_interval=0.1)
        return {"FINISHED"}


class SKELETOR_OT_disconnect(bpy.types.Operator):
    """Stop driving the armature"""

    bl_idname = "skeletor_live.disconnect"
    bl_label = "Disconnect"

    def execute(self, context: bpy.types.Context) -> set[str]:
        _disconnect()
        return {"FINISHED"}


class SKELETOR_PT_panel(bpy.types.Panel):
    bl_label = "Skeletor Live"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Skeletor"

    def draw(self, context: bpy.types.Context) -> None:
        props = context.scene.skeletor_live
        col = self.layout.column()
        for name in ("url", "token", "armature", "move_hips", "align_rest"):
            col.prop(props, name)
        stream = _state["stream"]
        col.operator("skeletor_live.disconnect" if stream else "skeletor_live.connect")
        if stream:
            col.label(text=stream.status)


def _disconnect() -> None:
    stream = _state["stream"]
    _state.update(stream=None, armature=None)
    if stream is not None:
        stream.stop()
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)


_CLASSES = (SkeletorLiveProps, SKELETOR_OT_connect, SKELETOR_OT_disconnect, SKELETOR_PT_panel)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.skeletor_live = bpy.props.PointerProperty(type=SkeletorLiveProps)


def unregister() -> None:
    _disconnect()
    del bpy.types.Scene.skeletor_live
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
