"""Run inside Blender (``blender -b --factory-startup --python drive_armature.py -- ADDON_DIR URL OUT``).

Registers the Skeletor Live add-on, builds a small T-pose armature facing -Y (Unity bone names),
connects the add-on to ``URL`` with its own Connect operator and runs its timer callback by hand
(a background Blender runs no timers) until frames have been applied. For each applied frame
it writes to ``OUT`` (JSON) the posed direction of each arm bone in armature space and the
direction the rig frame asks for (the bone's world rotation applied to the rig's rest
direction, turned into Blender's axes).
"""

import json
import sys
import time

import bpy

addon_dir, url, out_path = sys.argv[sys.argv.index("--") + 1 :]
sys.path.insert(0, addon_dir)
import skeletor_live  # noqa: E402
from skeletor_live import rig_pose  # noqa: E402

skeletor_live.register()
arm = bpy.data.armatures.new("Avatar")
obj = bpy.data.objects.new("Avatar", arm)
bpy.context.scene.collection.objects.link(obj)
bpy.context.view_layer.objects.active = obj
bpy.ops.object.mode_set(mode="EDIT")
BONES = {  # name: parent, head, tail (metres; the avatar faces -Y, its left is +X)
    "Hips": (None, (0, 0, 1.0), (0, 0, 1.1)),
    "Spine": ("Hips", (0, 0, 1.1), (0, 0, 1.3)),
    "Chest": ("Spine", (0, 0, 1.3), (0, 0, 1.45)),
    "LeftUpperArm": ("Chest", (0.18, 0, 1.45), (0.46, 0, 1.45)),
    "LeftLowerArm": ("LeftUpperArm", (0.46, 0, 1.45), (0.72, 0, 1.45)),
    "RightUpperArm": ("Chest", (-0.18, 0, 1.45), (-0.46, 0, 1.45)),
    "RightLowerArm": ("RightUpperArm", (-0.46, 0, 1.45), (-0.72, 0, 1.45)),
}
for name, (parent, head, tail) in BONES.items():
    eb = arm.edit_bones.new(name)
    eb.head, eb.tail = head, tail
    if parent:
        eb.parent = arm.edit_bones[parent]
bpy.ops.object.mode_set(mode="POSE")

props = bpy.context.scene.skeletor_live
props.url, props.armature, props.move_hips = url, obj, False
assert bpy.ops.skeletor_live.connect() == {"FINISHED"}
stream = skeletor_live._state["stream"]
applied = []
take = stream.take


def recording_take():
    frame = take()
    if frame is not None:
        applied.append(frame)
    return frame


stream.take = recording_take
ARMS = ["LeftUpperArm", "LeftLowerArm", "RightUpperArm", "RightLowerArm"]
CHILD = {"LeftUpperArm": "LeftLowerArm", "LeftLowerArm": "LeftHand", "RightUpperArm": "RightLowerArm", "RightLowerArm": "RightHand"}
records = []
end = time.monotonic() + 60
while time.monotonic() < end and len(records) < 40:
    n = len(applied)
    skeletor_live._tick()
    if len(applied) > n and stream.rig is not None:
        bpy.context.view_layer.update()
        frame = applied[-1]
        rig = stream.rig
        world = rig_pose.rig_world_rotations(rig["parents"], frame.rotations)
        index = {b: i for i, b in enumerate(rig["bones"])}
        rec = {"seq": frame.seq, "valid": {}, "actual": {}, "expected": {}, "basis": {}}
        for name in ARMS:
            pb = obj.pose.bones[name]
            rec["actual"][name] = list((pb.tail - pb.head).normalized())
            rest = stream.rest_offsets[index[CHILD[name]]]
            rec["expected"][name] = list(rig_pose.q_rotate(rig_pose.RIG_TO_BLENDER, rig_pose.q_rotate(world[index[name]], rest)))
            rec["valid"][name] = bool(frame.valid[index[name]])
            rec["basis"][name] = list(pb.rotation_quaternion)
        records.append(rec)
    time.sleep(1 / 60)
skeletor_live.unregister()
with open(out_path, "w") as f:
    json.dump({"frames_received": stream.frames, "records": records}, f)
