// Skeletor Live -> a Unity humanoid avatar: applies the stream's bone rotations (the "rotations"
// field, docs/protocol.md) to an Animator's HumanBodyBones, live.
//
// Use: add this component to a humanoid avatar (an Animator with a Humanoid Avatar, e.g. a VRM or
// a Mixamo model) in its T-pose, with no Animator Controller driving it, and press Play while
// `skeletor-live` runs. The rig's bones are Unity's HumanBodyBones by name; bones the avatar lacks
// (UpperChest, toes, fingers) are skipped and their children follow the parents they do have.
//
// Axes: the rig world is right-handed, Y up, facing +Z with the person's left at +X; Unity is
// left-handed with the avatar facing +Z and its left at -X: positions (x, y, z) -> (-x, y, z),
// quaternions (x, y, z, w) -> (x, -y, -z, w) (skeletor.rig.to_unity, as the VMC sender does).
// Rotations are relative to a T-pose whose bones all have identity world rotations, so each bone's
// world rotation is avatarRoot * rigWorld * restWorld (its rotation in the avatar's T-pose).
using System;
using System.IO;
using System.Net.WebSockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using UnityEngine;

[RequireComponent(typeof(Animator))]
public class SkeletorAvatar : MonoBehaviour
{
    public string url = "ws://127.0.0.1:8765/ws";
    public string token = "";         // the server's token, if it has one
    public bool moveHips = true;      // move the avatar's hips with the person's (scaled to its size)

    [Serializable] class Rig { public string[] bones; public int[] parents; }
    [Serializable] class Hello { public string type; public int protocol; public Rig rig; }

    readonly object gate = new object();
    Rig rig;                          // from hello
    Quaternion[] latest;              // newest frame's local rotations, Unity axes
    Vector3 latestHips;
    bool fresh;

    Animator animator;
    Transform[] targets;              // rig bone -> avatar bone (null when the avatar has none)
    Quaternion[] restWorld;           // each avatar bone's rotation in the T-pose, relative to the avatar root
    int hipsIndex = -1;
    Vector3 hipsRest;                 // the hips' rest position, avatar root space
    Vector3? firstHips;
    float hipsScale = 1f;
    CancellationTokenSource cts;

    void OnEnable() { animator = GetComponent<Animator>(); cts = new CancellationTokenSource(); _ = Run(cts.Token); }
    void OnDisable() { cts.Cancel(); }

    async Task Run(CancellationToken ct)
    {
        var buffer = new byte[1 << 16];
        while (!ct.IsCancellationRequested)
        {
            try
            {
                using (var ws = new ClientWebSocket())
                {
                    if (token != "") ws.Options.SetRequestHeader("Authorization", "Bearer " + token);
                    await ws.ConnectAsync(new Uri(url), ct);
                    var subscribe = "{\"type\":\"subscribe\",\"format\":\"binary\",\"fields\":[\"rotations\"]}";
                    await ws.SendAsync(new ArraySegment<byte>(Encoding.UTF8.GetBytes(subscribe)), WebSocketMessageType.Text, true, ct);
                    while (ws.State == WebSocketState.Open)
                    {
                        int n = 0;
                        WebSocketReceiveResult r;
                        do
                        {
                            if (n == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
                            r = await ws.ReceiveAsync(new ArraySegment<byte>(buffer, n, buffer.Length - n), ct);
                            n += r.Count;
                        } while (!r.EndOfMessage);
                        if (r.MessageType == WebSocketMessageType.Close) break;
                        if (r.MessageType == WebSocketMessageType.Binary) { ParseFrame(buffer, n); continue; }
                        OnText(Encoding.UTF8.GetString(buffer, 0, n));
                    }
                }
            }
            catch (OperationCanceledException) { return; }
            catch (Exception e) { Debug.LogWarning("skeletor: " + e.Message); }
            try { await Task.Delay(1000, ct); } catch (OperationCanceledException) { return; }  // then reconnect
        }
    }

    void OnText(string text)
    {
        if (text.StartsWith("{\"type\":\"hello\""))
        {
            var hello = JsonUtility.FromJson<Hello>(text);  // reads rig.bones / rig.parents, skips the rest
            if (hello.rig == null || hello.rig.bones == null || hello.rig.bones.Length == 0)
                Debug.LogWarning("skeletor: this server sends no rig; update skeletor-live");
            else lock (gate) { rig = hello.rig; targets = null; }
        }
        else if (text.StartsWith("{\"type\":\"error\"")) Debug.LogWarning("skeletor: " + text);
    }

    // Binary frame: 40-byte header, the fields asked for, then the rotations block (flag 16):
    // u16 bones, u16 reserved, u32 rig_version, 3 x f32 hips, bones x 4 x f32 (x, y, z, w), bones x u8 valid.
    void ParseFrame(byte[] data, int length)
    {
        if (length < 40 || data[0] != 'S' || data[1] != 'K' || data[2] != 'L' || data[3] != 'T' || data[4] != 1 || data[5] != 1) return;
        var br = new BinaryReader(new MemoryStream(data, 0, length));  // little-endian
        br.BaseStream.Position = 6;
        ushort flags = br.ReadUInt16();
        br.BaseStream.Position = 32;
        int joints = br.ReadUInt16();
        if ((flags & 16) == 0) return;  // no rig in this frame (calibrating, or nobody in view)
        int floats = ((flags & 1) != 0 ? 3 * joints : 0) + ((flags & 2) != 0 ? joints : 0) + ((flags & 4) != 0 ? 3 * joints : 0);
        br.BaseStream.Position = 40 + 4 * floats;
        int count = br.ReadUInt16();
        br.ReadUInt16();
        br.ReadUInt32();  // rig_version: rest offsets, which an avatar with its own proportions does not need
        var hips = new Vector3(-br.ReadSingle(), br.ReadSingle(), br.ReadSingle());
        var local = new Quaternion[count];
        for (int i = 0; i < count; i++)
        {
            float x = br.ReadSingle(), y = br.ReadSingle(), z = br.ReadSingle(), w = br.ReadSingle();
            local[i] = new Quaternion(x, -y, -z, w);  // mirrored into Unity's left-handed axes
        }
        lock (gate) { latest = local; latestHips = hips; fresh = true; }
    }

    // Called once the rig is known, with the avatar still in its T-pose.
    void Bind(Rig r)
    {
        targets = new Transform[r.bones.Length];
        restWorld = new Quaternion[r.bones.Length];
        var rootInv = Quaternion.Inverse(transform.rotation);
        for (int i = 0; i < r.bones.Length; i++)
        {
            if (!Enum.TryParse(r.bones[i], out HumanBodyBones hb)) continue;
            var t = animator.GetBoneTransform(hb);
            if (t == null) continue;
            targets[i] = t;
            restWorld[i] = rootInv * t.rotation;
            if (hb == HumanBodyBones.Hips) { hipsIndex = i; hipsRest = transform.InverseTransformPoint(t.position); }
        }
    }

    void LateUpdate()
    {
        Quaternion[] local; Vector3 hips; Rig r;
        lock (gate) { if (!fresh || rig == null) return; local = latest; hips = latestHips; r = rig; fresh = false; }
        if (local.Length != r.bones.Length) return;
        if (targets == null) Bind(r);
        var world = new Quaternion[local.Length];
        for (int i = 0; i < local.Length; i++)
        {
            int p = r.parents[i];
            world[i] = p < 0 ? local[i] : world[p] * local[i];  // parents come first
            if (targets[i] != null) targets[i].rotation = transform.rotation * world[i] * restWorld[i];
        }
        if (moveHips && hipsIndex >= 0)
        {
            if (firstHips == null) { firstHips = hips; hipsScale = hips.y > 0.2f ? hipsRest.y / hips.y : 1f; }  // stand upright when it starts
            targets[hipsIndex].position = transform.TransformPoint(hipsRest + (hips - firstHips.Value) * hipsScale);
        }
    }
}
