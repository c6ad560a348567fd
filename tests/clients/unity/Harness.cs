// Runs SkeletorAvatar outside Unity (UnityEngineStub.cs): sets up an avatar from the input file,
// feeds it binary frames as the websocket would, calls LateUpdate, prints every bone's pose.
// Input lines: "root qx qy qz qw", "rig NAME PARENT" (52), "bone NAME px py pz qx qy qz qw" (avatar
// bones in their T-pose, world), "frame BASE64" (binary frames, each followed by a LateUpdate).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Reflection;
using UnityEngine;

static class Harness
{
    const BindingFlags Private = BindingFlags.NonPublic | BindingFlags.Instance;

    static float F(string s) { return float.Parse(s, CultureInfo.InvariantCulture); }

    static void Main(string[] args)
    {
        var avatar = new SkeletorAvatar();
        var animator = new Animator();
        avatar.AddComponent(animator);
        typeof(SkeletorAvatar).GetField("animator", Private).SetValue(avatar, animator);
        var names = new List<string>();
        var parents = new List<int>();
        var frames = new List<byte[]>();
        foreach (var line in File.ReadAllLines(args[0]))
        {
            var w = line.Split(' ');
            if (w[0] == "root") avatar.transform.rotation = new Quaternion(F(w[1]), F(w[2]), F(w[3]), F(w[4]));
            else if (w[0] == "rig") { names.Add(w[1]); parents.Add(int.Parse(w[2])); }
            else if (w[0] == "bone")
            {
                var t = new Transform { position = new Vector3(F(w[2]), F(w[3]), F(w[4])), rotation = new Quaternion(F(w[5]), F(w[6]), F(w[7]), F(w[8])) };
                animator.bones[(HumanBodyBones)Enum.Parse(typeof(HumanBodyBones), w[1])] = t;
            }
            else if (w[0] == "frame") frames.Add(Convert.FromBase64String(w[1]));
        }
        var rigType = typeof(SkeletorAvatar).GetNestedType("Rig", BindingFlags.NonPublic);
        var rig = Activator.CreateInstance(rigType);
        rigType.GetField("bones").SetValue(rig, names.ToArray());
        rigType.GetField("parents").SetValue(rig, parents.ToArray());
        typeof(SkeletorAvatar).GetField("rig", Private).SetValue(avatar, rig);
        var parse = typeof(SkeletorAvatar).GetMethod("ParseFrame", Private);
        var late = typeof(SkeletorAvatar).GetMethod("LateUpdate", Private);
        foreach (var f in frames)
        {
            parse.Invoke(avatar, new object[] { f, f.Length });
            late.Invoke(avatar, null);
            foreach (var kv in animator.bones)
            {
                var t = kv.Value;
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0} {1} {2} {3} {4} {5} {6} {7}",
                    kv.Key, t.position.x, t.position.y, t.position.z, t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w));
            }
            Console.WriteLine("end");
        }
    }
}
