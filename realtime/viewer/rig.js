/* Skeletor Live: the humanoid rig of the `rotations` field, in plain JavaScript (no dependencies).
 *
 * Forward kinematics (docs/protocol.md, "hello" / rig), the same as skeletor.rig.forward_kinematics:
 *   world[root] = rot[root],  world[b] = world[parent[b]] * rot[b]
 *   pos[root] = hips,         pos[b] = pos[parent[b]] + world[parent[b]] (restOffsets[b])
 * Quaternions are [x, y, z, w] (Hamilton product, active rotations), positions metres in the
 * rig world (right-handed, Y up, the rest pose facing +Z).
 *
 * Also reads the binary frame's rotations block (flag 16). Loaded by the viewer as a
 * classic script (window.SkeletorRig) and by Node in the tests (module.exports).
 */
"use strict";

(function (root) {
  const BLOCK_HEADER_BYTES = 20; // skeletor.protocol.ROTATIONS_HEADER.itemsize

  // out = a * b for quaternions stored at a[ia..ia+3], b[ib..], written to out[io..].
  function quatMultiply(a, ia, b, ib, out, io) {
    const ax = a[ia], ay = a[ia + 1], az = a[ia + 2], aw = a[ia + 3];
    const bx = b[ib], by = b[ib + 1], bz = b[ib + 2], bw = b[ib + 3];
    out[io] = aw * bx + ax * bw + ay * bz - az * by;
    out[io + 1] = aw * by - ax * bz + ay * bw + az * bx;
    out[io + 2] = aw * bz + ax * by - ay * bx + az * bw;
    out[io + 3] = aw * bw - ax * bx - ay * by - az * bz;
  }

  // Adds q (at q[iq..]) applied to v (at v[iv..]) to out[io..]: out += q v q*.
  function addRotated(q, iq, v, iv, out, io) {
    const x = q[iq], y = q[iq + 1], z = q[iq + 2], w = q[iq + 3];
    const vx = v[iv], vy = v[iv + 1], vz = v[iv + 2];
    const tx = 2 * (y * vz - z * vy), ty = 2 * (z * vx - x * vz), tz = 2 * (x * vy - y * vx);
    out[io] += vx + w * tx + (y * tz - z * ty);
    out[io + 1] += vy + w * ty + (z * tx - x * tz);
    out[io + 2] += vz + w * tz + (x * ty - y * tx);
  }

  /**
   * Joint positions of the posed rig.
   * @param {ArrayLike<number>} parents B parent indices (-1 for the root; parents come first).
   * @param {ArrayLike<number>} restOffsets 3B metres, each bone's joint from its parent's at rest.
   * @param {ArrayLike<number>} hips 3 metres, the root joint.
   * @param {ArrayLike<number>} rotations 4B local quaternions [x, y, z, w].
   * @returns {Float64Array} 3B joint positions, rig world.
   */
  function forwardKinematics(parents, restOffsets, hips, rotations) {
    const n = parents.length;
    const world = new Float64Array(4 * n);
    const pos = new Float64Array(3 * n);
    for (let b = 0; b < n; b++) {
      const p = parents[b];
      if (p < 0) {
        for (let k = 0; k < 4; k++) world[4 * b + k] = rotations[4 * b + k];
        pos[3 * b] = hips[0]; pos[3 * b + 1] = hips[1]; pos[3 * b + 2] = hips[2];
        continue;
      }
      quatMultiply(world, 4 * p, rotations, 4 * b, world, 4 * b);
      pos[3 * b] = pos[3 * p]; pos[3 * b + 1] = pos[3 * p + 1]; pos[3 * b + 2] = pos[3 * p + 2];
      addRotated(world, 4 * p, restOffsets, 3 * b, pos, 3 * b);
    }
    return pos;
  }

  /**
   * The rotations block of a binary frame (docs/protocol.md, "The rotations block").
   * @param {DataView} dv the message.
   * @param {number} offset where the block starts (a multiple of 4).
   * @returns {{numBones, rigVersion, hips, rotations, valid, byteLength} | null} null if it does not fit.
   */
  function readRotationsBlock(dv, offset) {
    if (offset + BLOCK_HEADER_BYTES > dv.byteLength) return null;
    const b = dv.getUint16(offset, true);
    const byteLength = BLOCK_HEADER_BYTES + 16 * b + b + ((4 - (b % 4)) % 4);
    if (b === 0 || offset + byteLength > dv.byteLength) return null;
    const rotations = new Float32Array(4 * b);
    for (let i = 0; i < 4 * b; i++) rotations[i] = dv.getFloat32(offset + BLOCK_HEADER_BYTES + 4 * i, true);
    const valid = new Uint8Array(b);
    for (let i = 0; i < b; i++) valid[i] = dv.getUint8(offset + BLOCK_HEADER_BYTES + 16 * b + i);
    return {
      numBones: b,
      rigVersion: dv.getUint32(offset + 4, true),
      hips: [dv.getFloat32(offset + 8, true), dv.getFloat32(offset + 12, true), dv.getFloat32(offset + 16, true)],
      rotations: rotations,
      valid: valid,
      byteLength: byteLength,
    };
  }

  const api = { forwardKinematics: forwardKinematics, readRotationsBlock: readRotationsBlock, quatMultiply: quatMultiply, BLOCK_HEADER_BYTES: BLOCK_HEADER_BYTES };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.SkeletorRig = api;
})(typeof self !== "undefined" ? self : this);
