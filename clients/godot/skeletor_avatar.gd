extends Node
## Skeletor Live -> a Godot 4 humanoid Skeleton3D: applies the stream's bone rotations (the
## "rotations" field, docs/protocol.md) live.
##
## Use: add this node, point `skeleton` at the avatar's Skeleton3D (bones named as Godot's
## SkeletonProfileHumanoid, which a glTF / VRM import with the humanoid profile gives), keep its
## rest pose a T-pose, run the scene while `skeletor-live` runs.
##
## Axes: the rig world is Godot's own (right-handed, Y up, the humanoid facing +Z, its left at
## +X, as glTF), so rotations apply as they come. They are relative to a T-pose whose bones all
## have identity world rotations: a bone's global pose rotation is rig_world * its global rest.

@export var url := "ws://127.0.0.1:8765/ws"
@export var token := ""  # the server's token, if it has one
@export var skeleton: Skeleton3D
@export var move_hips := true

# The rig's Unity HumanBodyBones names that Godot's humanoid profile calls otherwise.
const GODOT_NAMES := {
	"LeftThumbProximal": "LeftThumbMetacarpal", "LeftThumbIntermediate": "LeftThumbProximal",
	"RightThumbProximal": "RightThumbMetacarpal", "RightThumbIntermediate": "RightThumbProximal",
}

var ws := WebSocketPeer.new()
var retry_at := 0.0
var rig_bones := PackedStringArray()
var rig_parents := PackedInt32Array()
var driver := PackedInt32Array()  # skeleton bone -> rig bone driving it, or -1
var order := PackedInt32Array()  # skeleton bones, parents before children
var hips_bone := -1
var first_hips = null
var hips_scale := 1.0


func _ready() -> void:
	_connect()


func _connect() -> void:
	if token != "":
		ws.handshake_headers = PackedStringArray(["Authorization: Bearer " + token])
	ws.connect_to_url(url)


func _process(_delta: float) -> void:
	ws.poll()
	match ws.get_ready_state():
		WebSocketPeer.STATE_OPEN:
			var newest := PackedByteArray()
			while ws.get_available_packet_count() > 0:
				var packet := ws.get_packet()
				if ws.was_string_packet():
					var msg = JSON.parse_string(packet.get_string_from_utf8())
					if msg is Dictionary and msg.get("type") == "hello":
						_on_hello(msg)
				else:
					newest = packet  # only the newest frame matters
			if newest.size() >= 40 and skeleton != null and not rig_bones.is_empty():
				_apply(newest)
		WebSocketPeer.STATE_CLOSED:
			var now := Time.get_ticks_msec() / 1000.0
			if retry_at == 0.0:
				retry_at = now + 1.0
			elif now >= retry_at:
				retry_at = 0.0
				_connect()


func _on_hello(msg: Dictionary) -> void:
	if not msg.has("rig"):
		push_warning("skeletor: this server sends no rig; update skeletor-live")
		return
	rig_bones = PackedStringArray(msg["rig"]["bones"])
	rig_parents = PackedInt32Array(msg["rig"]["parents"])
	ws.send_text(JSON.stringify({"type": "subscribe", "format": "binary", "fields": ["rotations"]}))
	if skeleton == null:
		return
	driver.resize(skeleton.get_bone_count())
	driver.fill(-1)
	for i in rig_bones.size():
		var b := skeleton.find_bone(GODOT_NAMES.get(rig_bones[i], rig_bones[i]))
		if b >= 0:
			driver[b] = i
	hips_bone = skeleton.find_bone("Hips")
	order.clear()
	for root in skeleton.get_parentless_bones():
		_visit(root)


func _visit(b: int) -> void:
	order.append(b)
	for c in skeleton.get_bone_children(b):
		_visit(c)


# Binary frame: 40-byte header, the fields asked for, then the rotations block (flag 16):
# u16 bones, u16 reserved, u32 rig_version, 3 x f32 hips, bones x 4 x f32 (x, y, z, w), bones x u8 valid.
func _apply(p: PackedByteArray) -> void:
	if p.slice(0, 4).get_string_from_ascii() != "SKLT" or p[4] != 1 or p[5] != 1:
		return
	var flags := p.decode_u16(6)
	if not flags & 16:
		return  # no rig in this frame (calibrating, or nobody in view)
	var n := p.decode_u16(32)
	var off := 40 + 4 * n * ((3 if flags & 1 else 0) + (1 if flags & 2 else 0) + (3 if flags & 4 else 0))
	var count := p.decode_u16(off)
	if count != rig_bones.size():
		return
	var hips := Vector3(p.decode_float(off + 8), p.decode_float(off + 12), p.decode_float(off + 16))
	off += 20
	var world: Array[Quaternion] = []
	for i in count:
		var q := Quaternion(p.decode_float(off), p.decode_float(off + 4), p.decode_float(off + 8), p.decode_float(off + 12))
		off += 16
		world.append(q if rig_parents[i] < 0 else world[rig_parents[i]] * q)  # parents come first
	# Global pose rotations, parents first: driven bones from the rig, the others carried at rest.
	var global_rot := {}
	for b in order:
		var parent := skeleton.get_bone_parent(b)
		var parent_rot: Quaternion = global_rot[parent] if parent >= 0 else Quaternion.IDENTITY
		var g: Quaternion
		if driver[b] >= 0:
			g = world[driver[b]] * skeleton.get_bone_global_rest(b).basis.get_rotation_quaternion()
		else:
			g = parent_rot * skeleton.get_bone_rest(b).basis.get_rotation_quaternion()
		global_rot[b] = g
		skeleton.set_bone_pose_rotation(b, parent_rot.inverse() * g)
	if move_hips and hips_bone >= 0:
		if first_hips == null:
			first_hips = hips  # stand upright when it starts
			var rest_height := skeleton.get_bone_global_rest(hips_bone).origin.y
			hips_scale = rest_height / hips.y if hips.y > 0.2 and rest_height > 0.0 else 1.0
		var parent := skeleton.get_bone_parent(hips_bone)
		var to_parent := skeleton.get_bone_global_rest(parent).basis.inverse() if parent >= 0 else Basis.IDENTITY
		skeleton.set_bone_pose_position(hips_bone, skeleton.get_bone_rest(hips_bone).origin + to_parent * ((hips - first_hips) * hips_scale))
