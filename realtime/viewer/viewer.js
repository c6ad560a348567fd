/* Skeletor Live viewer: draws the streamed 3D skeleton on a <canvas>. No third-party code.
 *
 * Wire protocol: docs/protocol.md (version 1). The viewer subscribes to binary frames
 * (JSON with ?format=json). URL parameters:
 *   ?token=SECRET       the server's token, passed on to the websocket
 *   ?format=json        JSON frames instead of binary
 *   ?ws=ws://host:port/ws   stream from another server
 *
 * Data axes are the camera frame: x right, y down, z forward, metres. With yaw = pitch = 0
 * the view looks along +z like the camera did, so the person appears as in the image.
 *
 * The "rig" control draws the humanoid rig of the `rotations` field from its rotations and
 * rest offsets only (forward kinematics in rig.js, never the joints' positions), over the
 * joints or beside them, anchored at the joints' mid-hip: a wrong rotation shows as a bone
 * that leaves its joints. Choosing it subscribes to `rotations` (the server then solves the rig).
 *
 * Several people: when hello says max_people > 1 the viewer subscribes with people "all" and
 * draws each person in their own colour (PERSON_COLORS by person_id); a person is removed on
 * their person_left status or when their frames stop for PERSON_TIMEOUT_MS.
 *
 * For tests: window.viewerStats = {connected, framesDrawn, framesReceived, lastSeq, rig, people...}.
 */
"use strict";

(function () {
  const PROTOCOL = 1;
  const HEADER_BYTES = 40; // skeletor.protocol.BINARY_HEADER.itemsize
  const MAGIC = [0x53, 0x4b, 0x4c, 0x54]; // "SKLT"
  const KIND_FRAME = 1;
  const FLAG_JOINTS = 1, FLAG_CONFIDENCE = 2, FLAG_RAW = 4, FLAG_LATENCY = 8, FLAG_ROTATIONS = 16, FLAG_PERSON_ID = 32;
  // One colour per person (by person_id, cycling), far from each other and from the background.
  const PERSON_COLORS = ["#4aa3ff", "#ff8c42", "#a8e05f", "#ff4da6", "#f2d544", "#9d7bff", "#33d6d6", "#ff5c5c"];
  const PERSON_TIMEOUT_MS = 1000; // a person whose frames stop this long is no longer drawn
  const RIG_BESIDE_M = 0.9; // the "beside" rig view: this far to the image's right of the joints
  const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  const COLORS = { left: "#4aa3ff", right: "#ff8c42", center: "#d8d8d8", raw: "#ff4d6d", rig: "#c77dff", rigHeld: "#6f5a80" };
  const BACKGROUND = "#15171a";

  const params = new URLSearchParams(location.search);
  const format = params.get("format") === "json" ? "json" : "binary";

  const stats = {
    connected: false, framesDrawn: 0, framesReceived: 0, lastSeq: -1, skipped: 0,
    closeCode: null, badFrames: 0, errors: [], format: format, mode: "cleaned",
    skeleton: null, subscribedFields: [], lastStatus: null,
    rigView: "off", rigBones: 0, rigVersion: -1, rigFramesDrawn: 0, rigSeq: -1, rigJoints: null,
    maxPeople: 1, people: 0, personIds: [],
  };
  window.viewerStats = stats;

  const $ = (id) => document.getElementById(id);
  const canvas = $("view");
  const ctx = canvas.getContext("2d");
  const decoder = new TextDecoder();

  let skeleton = null; // {names, edges: [[a, b, side, thin]], side: [...]}
  let frame = null; // newest {seq, tCaptureMs, n, joints, confidence, raw, latency, personId}
  let maxPeople = 1; // hello's max_people: more than 1 = subscribe to every person
  const people = new Map(); // person_id -> {frame, t}: the newest frame of each person drawn (several people only)
  let frameDirty = false;
  let viewDirty = true;
  let mode = "cleaned";
  let rig = null; // {bones, parents, rest: {version: Float32Array(3B)}} from hello and rig messages
  let rigView = "off"; // "off" | "overlay" | "beside"
  const view = { yaw: 0, pitch: 0, dist: 3.2, target: null, floorY: null };
  const recent = []; // {t, latency} of frames received in the last second

  const nowMs = () => performance.timeOrigin + performance.now();
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

  // ------------------------------------------------------------------ connection

  let ws = null;
  let retryMs = 500;

  function streamUrl() {
    const url = params.get("ws") ? new URL(params.get("ws")) : new URL("/ws", location.href);
    if (url.protocol === "http:") url.protocol = "ws:";
    if (url.protocol === "https:") url.protocol = "wss:";
    const token = params.get("token");
    if (token) url.searchParams.set("token", token);
    return url.toString();
  }

  function setConn(state, text) {
    $("conn").className = "conn " + state;
    $("conn-text").textContent = text;
  }

  function connect() {
    setConn("connecting", "connecting…");
    let sock;
    try {
      sock = new WebSocket(streamUrl());
    } catch (e) {
      setConn("disconnected", "bad stream URL: " + e.message);
      return;
    }
    sock.binaryType = "arraybuffer";
    ws = sock;
    let opened = false;
    sock.onopen = () => {
      opened = true;
      retryMs = 500;
      stats.connected = true;
      stats.closeCode = null;
    };
    sock.onmessage = (ev) => {
      if (ws === sock) onMessage(ev.data);
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      stats.connected = false;
      stats.closeCode = ev.code;
      const delay = retryMs;
      retryMs = Math.min(retryMs * 2, 5000);
      // A browser does not see why a handshake failed (HTTP 401/403/503 all read as 1006).
      const why = !opened ? "server down, or token / origin refused" : ev.code === 1006 ? "connection lost" : "code " + ev.code + (ev.reason ? ": " + ev.reason : "");
      setConn("disconnected", "disconnected (" + why + "), retrying in " + (delay / 1000).toFixed(1) + " s");
      setTimeout(connect, delay);
    };
  }

  function subscribe() {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const fields = ["joints", "confidence", "latency_ms"];
    if (mode !== "cleaned") fields.push("raw_joints");
    if (rigView !== "off" && rig) fields.push("rotations");
    const sub = { type: "subscribe", format: format, fields: fields, max_rate_hz: null };
    if (maxPeople > 1) sub.people = "all"; // (an older server has no people key: only sent when hello says so)
    ws.send(JSON.stringify(sub));
  }

  function onMessage(data) {
    if (typeof data !== "string") {
      const f = frameFromBinary(data);
      if (f) onFrame(f);
      else stats.badFrames++;
      return;
    }
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (e) {
      stats.badFrames++;
      return;
    }
    switch (msg.type) {
      case "hello": onHello(msg); break;
      case "subscribed": stats.subscribedFields = msg.fields; break;
      case "frame": onFrame(frameFromJson(msg)); break;
      case "status": onStatus(msg); break;
      case "rig": onRig(msg); break;
      case "error":
        stats.errors.push(msg);
        console.warn("server error", msg.code, msg.message);
        break;
      default: break; // newer servers may add messages: ignore them
    }
  }

  function onHello(msg) {
    if (msg.protocol !== PROTOCOL) {
      setConn("disconnected", "server speaks protocol " + msg.protocol + ", this viewer " + PROTOCOL);
      ws.close(1000);
      return;
    }
    const sk = msg.skeleton;
    const side = sk.joints.map((n) => (n.startsWith("left_") ? "left" : n.startsWith("right_") ? "right" : "center"));
    const handStart = sk.joints.findIndex((n) => n.includes("hand_"));
    skeleton = {
      name: sk.name,
      names: sk.joints,
      side: side,
      edges: sk.edges.map(([a, b]) => [a, b, side[a] === side[b] ? side[a] : "center", handStart >= 0 && a >= handStart && b >= handStart]),
      handStart: handStart < 0 ? sk.joints.length : handStart,
    };
    stats.skeleton = sk.name;
    maxPeople = Number.isInteger(msg.max_people) && msg.max_people > 1 ? msg.max_people : 1;
    stats.maxPeople = maxPeople;
    people.clear();
    rig = null;
    if (msg.rig && Array.isArray(msg.rig.bones)) {
      rig = { bones: msg.rig.bones, parents: msg.rig.parents, rest: {}, latest: 0,
              thin: msg.rig.bones.map((n) => /Thumb|Index|Middle|Ring|Little/.test(n)) };
      rig.rest[0] = Float32Array.from(msg.rig.rest_offsets.flat());
      stats.rigBones = rig.bones.length;
    }
    setConn("connected", "connected · " + sk.name + (msg.fps ? " · source " + msg.fps + " fps" : ""));
    subscribe();
  }

  function onRig(msg) {
    if (!rig || !Array.isArray(msg.rest_offsets) || msg.rest_offsets.length !== rig.bones.length) return;
    rig.rest[msg.rig_version] = Float32Array.from(msg.rest_offsets.flat());
    rig.latest = Math.max(rig.latest, msg.rig_version);
    for (const v of Object.keys(rig.rest)) if (Number(v) < rig.latest - 4) delete rig.rest[v]; // keep a few
    stats.rigVersion = rig.latest;
  }

  function onStatus(msg) {
    stats.lastStatus = msg.event;
    if (msg.event === "person_left" && people.delete(msg.person_id)) {
      viewDirty = true;
      countPeople();
    }
    const banner = $("event");
    const text = {
      source_lost: "camera lost",
      source_ended: "source ended",
      no_person: "nobody in view",
    }[msg.event];
    banner.textContent = text ? text + (msg.message ? ": " + msg.message : "") : "";
    banner.classList.toggle("hidden", !text);
  }

  // ------------------------------------------------------------------ decoding

  function floats(dv, offset, count) {
    if (LITTLE_ENDIAN) return new Float32Array(dv.buffer, dv.byteOffset + offset, count);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = dv.getFloat32(offset + 4 * i, true);
    return out;
  }

  function frameFromBinary(buf) {
    if (!(buf instanceof ArrayBuffer) || buf.byteLength < HEADER_BYTES) return null;
    const dv = new DataView(buf);
    for (let i = 0; i < 4; i++) if (dv.getUint8(i) !== MAGIC[i]) return null;
    if (dv.getUint8(4) !== PROTOCOL || dv.getUint8(5) !== KIND_FRAME) return null;
    const flags = dv.getUint16(6, true);
    const n = dv.getUint16(32, true);
    const latencyBytes = dv.getUint16(34, true);
    const nFloats = ((flags & FLAG_JOINTS) ? 3 * n : 0) + ((flags & FLAG_CONFIDENCE) ? n : 0) + ((flags & FLAG_RAW) ? 3 * n : 0);
    let rigBlock = null;
    if (flags & FLAG_ROTATIONS) {
      rigBlock = window.SkeletorRig.readRotationsBlock(dv, HEADER_BYTES + 4 * nFloats);
      if (!rigBlock) return null;
    }
    const personAt = HEADER_BYTES + 4 * nFloats + (rigBlock ? rigBlock.byteLength : 0);
    const personBytes = flags & FLAG_PERSON_ID ? 4 : 0;
    if (buf.byteLength !== personAt + personBytes + latencyBytes) return null;
    const f = {
      seq: Number(dv.getBigUint64(8, true)),
      tCaptureMs: Number(dv.getBigInt64(16, true) / 1000n) / 1000,
      n: n, joints: null, confidence: null, raw: null, latency: null, rig: null,
      personId: personBytes ? dv.getUint32(personAt, true) : null,
    };
    let off = HEADER_BYTES;
    if (flags & FLAG_JOINTS) { f.joints = floats(dv, off, 3 * n); off += 12 * n; }
    if (flags & FLAG_CONFIDENCE) { f.confidence = floats(dv, off, n); off += 4 * n; }
    if (flags & FLAG_RAW) { f.raw = floats(dv, off, 3 * n); off += 12 * n; }
    if (rigBlock) { f.rig = rigBlock; off += rigBlock.byteLength; }
    off += personBytes;
    if ((flags & FLAG_LATENCY) && latencyBytes > 0) {
      try {
        f.latency = JSON.parse(decoder.decode(new Uint8Array(buf, off, latencyBytes)));
      } catch (e) {
        f.latency = null;
      }
    }
    return f;
  }

  function rowsFromJson(rows) {
    if (!Array.isArray(rows)) return null;
    const out = new Float32Array(rows.length * 3).fill(NaN);
    rows.forEach((r, i) => {
      if (r) { out[3 * i] = r[0]; out[3 * i + 1] = r[1]; out[3 * i + 2] = r[2]; }
    });
    return out;
  }

  function frameFromJson(msg) {
    return {
      seq: msg.seq,
      tCaptureMs: msg.t_capture_ns / 1e6, // a double keeps ~0.25 us of an epoch in ns: plenty
      n: msg.joints ? msg.joints.length : 0,
      joints: rowsFromJson(msg.joints),
      confidence: msg.confidence ? Float32Array.from(msg.confidence) : null,
      raw: rowsFromJson(msg.raw_joints),
      latency: msg.latency_ms || null,
      personId: Number.isInteger(msg.person_id) ? msg.person_id : null,
      rig: Array.isArray(msg.rotations) && Array.isArray(msg.hips_position) ? {
        numBones: msg.rotations.length,
        rigVersion: msg.rig_version,
        hips: msg.hips_position,
        rotations: Float32Array.from(msg.rotations.flatMap((q) => q || [0, 0, 0, 1])),
        valid: Uint8Array.from(msg.rotations_valid || []),
      } : null,
    };
  }

  function onFrame(f) {
    stats.framesReceived++;
    const now = nowMs();
    if (f.personId !== null) {
      people.set(f.personId, { frame: f, t: now });
      countPeople();
      if (frame && f.seq === frame.seq) { // another person of the same capture
        frameDirty = true;
        return;
      }
    }
    if (stats.lastSeq >= 0 && f.seq > stats.lastSeq + 1) stats.skipped += f.seq - stats.lastSeq - 1;
    stats.lastSeq = f.seq;
    recent.push({ t: now, latency: now - f.tCaptureMs });
    frame = f;
    frameDirty = true;
  }

  // The people drawn now: forget those whose frames stopped; the count and ids for the HUD.
  function countPeople() {
    const now = nowMs();
    for (const [id, p] of people) if (now - p.t > PERSON_TIMEOUT_MS) people.delete(id);
    stats.people = people.size;
    stats.personIds = Array.from(people.keys()).sort((a, b) => a - b);
  }

  // ------------------------------------------------------------------ drawing

  function resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
      viewDirty = true;
    }
  }

  // A projector for the current view: orbit (yaw about the vertical y axis, then pitch
  // about x) around view.target at view.dist, then a pinhole projection.
  function projector() {
    const W = canvas.width, H = canvas.height;
    const cy = Math.cos(view.yaw), sy = Math.sin(view.yaw);
    const cp = Math.cos(view.pitch), sp = Math.sin(view.pitch);
    const t = view.target || [0, 0, 0];
    const focal = 1.2 * Math.min(W, H);
    // Centre the drawing in the space right of the HUD when there is room for it.
    const hudRight = $("hud").getBoundingClientRect().right * (window.devicePixelRatio || 1);
    const cx = W - hudRight > 0.55 * W ? (hudRight + W) / 2 : W / 2;
    return function (x, y, z, out) {
      x -= t[0]; y -= t[1]; z -= t[2];
      const x1 = cy * x - sy * z, z1 = sy * x + cy * z;
      const y2 = cp * y - sp * z1, z2 = sp * y + cp * z1;
      const zc = z2 + view.dist;
      if (!(zc > 0.05)) return false;
      out[0] = cx + (focal * x1) / zc;
      out[1] = H / 2 + (focal * y2) / zc;
      out[2] = zc;
      return true;
    };
  }

  function finiteJoint(p, i) {
    return Number.isFinite(p[3 * i]) && Number.isFinite(p[3 * i + 1]) && Number.isFinite(p[3 * i + 2]);
  }

  // Follow the body smoothly: its mean for the orbit centre, its lowest point for the floor.
  function follow(p, n) {
    let sx = 0, sy = 0, sz = 0, k = 0, low = -Infinity;
    const body = Math.min(n, skeleton.handStart);
    for (let i = 0; i < body; i++) {
      if (!finiteJoint(p, i)) continue;
      sx += p[3 * i]; sy += p[3 * i + 1]; sz += p[3 * i + 2]; k++;
      low = Math.max(low, p[3 * i + 1]);
    }
    if (!k) return;
    const c = [sx / k, sy / k, sz / k];
    if (!view.target) {
      view.target = c;
      view.floorY = low;
    } else {
      for (let j = 0; j < 3; j++) view.target[j] += 0.08 * (c[j] - view.target[j]);
      view.floorY += 0.05 * (low - view.floorY);
    }
  }

  function drawFloor(project) {
    if (!view.target || view.floorY === null) return;
    const a = [0, 0, 0], b = [0, 0, 0];
    const [cx, , cz] = view.target;
    const y = view.floorY;
    ctx.strokeStyle = "#2b3036";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let k = -4; k <= 4; k++) {
      for (let s = -4; s < 4; s++) { // short segments, so a line crossing the near plane still shows
        const u0 = s * 0.5, u1 = (s + 1) * 0.5, v = k * 0.5;
        if (project(cx + u0, y, cz + v, a) && project(cx + u1, y, cz + v, b)) { ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); }
        if (project(cx + v, y, cz + u0, a) && project(cx + v, y, cz + u1, b)) { ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); }
      }
    }
    ctx.stroke();
  }

  function drawSkeleton(project, p, conf, ghost, personColor) {
    const n = Math.min(skeleton.names.length, p.length / 3);
    const scr = new Float32Array(3 * n).fill(NaN);
    const tmp = [0, 0, 0];
    for (let i = 0; i < n; i++) {
      if (finiteJoint(p, i) && project(p[3 * i], p[3 * i + 1], p[3 * i + 2], tmp)) {
        scr[3 * i] = tmp[0]; scr[3 * i + 1] = tmp[1]; scr[3 * i + 2] = tmp[2];
      }
    }
    const c = (i) => (conf && i < conf.length ? conf[i] : 1);
    const scale = Math.min(canvas.width, canvas.height) / 700;
    ctx.lineCap = "round";
    for (const [i, j, side, thin] of skeleton.edges) {
      if (i >= n || j >= n || !(scr[3 * i] === scr[3 * i]) || !(scr[3 * j] === scr[3 * j])) continue;
      const cc = Math.min(c(i), c(j));
      if (!(cc > 0)) continue;
      ctx.globalAlpha = ghost ? 0.6 : 0.3 + 0.7 * Math.min(1, cc);
      ctx.strokeStyle = ghost ? COLORS.raw : personColor || COLORS[side];
      ctx.lineWidth = Math.max(1, (thin ? 1.6 : 3.2) * scale * (3 / Math.max(0.5, (scr[3 * i + 2] + scr[3 * j + 2]) / 2)));
      ctx.beginPath();
      ctx.moveTo(scr[3 * i], scr[3 * i + 1]);
      ctx.lineTo(scr[3 * j], scr[3 * j + 1]);
      ctx.stroke();
    }
    for (let i = 0; i < n; i++) {
      if (!(scr[3 * i] === scr[3 * i]) || !(c(i) > 0)) continue;
      ctx.globalAlpha = ghost ? 0.6 : 0.3 + 0.7 * Math.min(1, c(i));
      ctx.fillStyle = ghost ? COLORS.raw : personColor || COLORS[skeleton.side[i]];
      const r = Math.max(1, (i >= skeleton.handStart ? 1.8 : 3.2) * scale * (3 / Math.max(0.5, scr[3 * i + 2])));
      ctx.beginPath();
      ctx.arc(scr[3 * i], scr[3 * i + 1], r, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
  }

  // The rig from its rotations and rest offsets only: forward kinematics in the rig world
  // (Y up, facing +Z), then into the camera frame (y down, z forward) with its Hips on the
  // joints' mid-hip (or where the rig's own hips are, when the joints have none).
  function drawRig(project, f) {
    const r = f.rig;
    if (!rig || !r || r.numBones !== rig.bones.length) return;
    const rest = rig.rest[r.rigVersion] || rig.rest[rig.latest] || rig.rest[0];
    const pos = window.SkeletorRig.forwardKinematics(rig.parents, rest, r.hips, r.rotations);
    let ax = r.hips[0], ay = -r.hips[1], az = -r.hips[2];
    const p = f.joints;
    if (p && finiteJoint(p, 23) && finiteJoint(p, 24)) {
      ax = (p[69] + p[72]) / 2; ay = (p[70] + p[73]) / 2; az = (p[71] + p[74]) / 2;
    }
    if (rigView === "beside") ax += RIG_BESIDE_M;
    const n = rig.bones.length;
    const cam = new Float64Array(3 * n);
    for (let b = 0; b < n; b++) {
      cam[3 * b] = ax + (pos[3 * b] - r.hips[0]);
      cam[3 * b + 1] = ay - (pos[3 * b + 1] - r.hips[1]);
      cam[3 * b + 2] = az - (pos[3 * b + 2] - r.hips[2]);
    }
    const a = [0, 0, 0], c = [0, 0, 0];
    const scale = Math.min(canvas.width, canvas.height) / 700;
    ctx.lineCap = "round";
    ctx.globalAlpha = 0.9;
    for (let b = 0; b < n; b++) {
      const q = rig.parents[b];
      if (q < 0) continue;
      if (!project(cam[3 * q], cam[3 * q + 1], cam[3 * q + 2], a) || !project(cam[3 * b], cam[3 * b + 1], cam[3 * b + 2], c)) continue;
      if (Math.abs(a[0] - c[0]) + Math.abs(a[1] - c[1]) < 0.5) continue; // a zero-length bone (Spine starts at the Hips)
      ctx.strokeStyle = r.valid[b] ? COLORS.rig : COLORS.rigHeld;
      ctx.lineWidth = Math.max(1, (rig.thin[b] ? 1.4 : 2.6) * scale * (3 / Math.max(0.5, (a[2] + c[2]) / 2)));
      ctx.beginPath();
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(c[0], c[1]);
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    stats.rigFramesDrawn++;
    stats.rigSeq = f.seq;
    stats.rigVersion = r.rigVersion;
    stats.rigJoints = Array.from(pos);
  }

  // Axis gizmo (rotation only): x red, y green (down), z blue (forward).
  function drawAxes() {
    const cy = Math.cos(view.yaw), sy = Math.sin(view.yaw), cp = Math.cos(view.pitch), sp = Math.sin(view.pitch);
    const len = 28 * Math.max(1, window.devicePixelRatio || 1);
    const ox = 20 + len * 1.5, oy = canvas.height - 20 - len * 1.5;
    const axes = [["x", [1, 0, 0], "#ef4e4e"], ["y", [0, 1, 0], "#3ecf6e"], ["z", [0, 0, 1], "#4a8cff"]];
    ctx.lineWidth = 2;
    ctx.font = Math.round(11 * (window.devicePixelRatio || 1)) + "px system-ui, sans-serif";
    for (const [name, [x, y, z], color] of axes) {
      const x1 = cy * x - sy * z, z1 = sy * x + cy * z;
      const y2 = cp * y - sp * z1;
      ctx.strokeStyle = ctx.fillStyle = color;
      ctx.beginPath();
      ctx.moveTo(ox, oy);
      ctx.lineTo(ox + len * x1, oy + len * y2);
      ctx.stroke();
      ctx.fillText(name, ox + len * 1.2 * x1 - 3, oy + len * 1.2 * y2 + 4);
    }
  }

  function draw() {
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (skeleton && frame && people.size) {
      drawPeople();
    } else if (skeleton && frame) {
      const layers = [];
      if (mode !== "raw" && frame.joints) layers.push([frame.joints, false]);
      if (mode !== "cleaned" && frame.raw) layers.push([frame.raw, mode === "both"]);
      if (!layers.length && frame.joints) layers.push([frame.joints, false]); // no raw pose from this pipeline
      if (layers.length) {
        follow(layers[0][0], frame.n);
        const project = projector();
        drawFloor(project);
        for (let k = layers.length - 1; k >= 0; k--) drawSkeleton(project, layers[k][0], frame.confidence, layers[k][1]);
        if (rigView !== "off") drawRig(project, frame);
      }
    }
    drawAxes();
  }

  // Every person followed, each in their own colour; the view follows the oldest (lowest id).
  function drawPeople() {
    countPeople();
    const ids = Array.from(people.keys()).sort((a, b) => a - b);
    if (!ids.length) return;
    const first = people.get(ids[0]).frame;
    const pose = (f) => (mode === "raw" && f.raw ? f.raw : f.joints);
    if (pose(first)) follow(pose(first), first.n);
    const project = projector();
    drawFloor(project);
    for (const id of ids) {
      const f = people.get(id).frame;
      const color = PERSON_COLORS[id % PERSON_COLORS.length];
      if (mode === "both" && f.raw) drawSkeleton(project, f.raw, f.confidence, true);
      if (pose(f)) drawSkeleton(project, pose(f), f.confidence, false, color);
    }
  }

  function tick() {
    requestAnimationFrame(tick);
    resize();
    if (!frameDirty && !viewDirty) return;
    draw();
    if (frameDirty && skeleton) stats.framesDrawn++;
    frameDirty = viewDirty = false;
  }

  // ------------------------------------------------------------------ numbers

  function median(values) {
    if (!values.length) return NaN;
    const s = values.slice().sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
  }

  function updateHud() {
    const now = nowMs();
    while (recent.length && recent[0].t < now - 1000) recent.shift();
    const lat = median(recent.map((r) => r.latency));
    $("fps").textContent = String(recent.length);
    $("latency").textContent = Number.isFinite(lat) ? lat.toFixed(1) + " ms" : "–";
    const stages = frame && frame.latency ? Object.entries(frame.latency).filter(([, v]) => v !== null) : [];
    $("stages").textContent = stages.length ? stages.map(([k, v]) => k + " " + Number(v).toFixed(1)).join(" · ") : "–";
    $("seq").textContent = stats.lastSeq >= 0 ? String(stats.lastSeq) : "–";
    $("skipped").textContent = String(stats.skipped);
    if (maxPeople > 1) {
      countPeople();
      viewDirty = viewDirty || people.size !== stats.people;
      $("people").textContent = stats.personIds.length ? stats.people + " (" + stats.personIds.join(", ") + ")" : "0";
    }
  }

  // ------------------------------------------------------------------ input

  let drag = null;
  canvas.addEventListener("pointerdown", (e) => {
    drag = { x: e.clientX, y: e.clientY };
    canvas.setPointerCapture(e.pointerId);
    canvas.classList.add("dragging");
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    view.yaw += (e.clientX - drag.x) * 0.008;
    view.pitch = clamp(view.pitch + (e.clientY - drag.y) * 0.008, -1.5, 1.5);
    drag = { x: e.clientX, y: e.clientY };
    viewDirty = true;
  });
  const endDrag = () => {
    drag = null;
    canvas.classList.remove("dragging");
  };
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    view.dist = clamp(view.dist * Math.exp(e.deltaY * 0.0015), 0.5, 30);
    viewDirty = true;
  }, { passive: false });
  canvas.addEventListener("dblclick", () => {
    view.yaw = 0;
    view.pitch = 0;
    view.dist = 3.2;
    viewDirty = true;
  });
  $("mode").addEventListener("change", (e) => {
    mode = e.target.value;
    stats.mode = mode;
    subscribe();
    viewDirty = true;
  });
  $("rig").addEventListener("change", (e) => {
    const was = rigView;
    rigView = e.target.value;
    stats.rigView = rigView;
    if ((was === "off") !== (rigView === "off")) subscribe();
    viewDirty = true;
  });

  connect();
  requestAnimationFrame(tick);
  setInterval(updateHud, 250);
})();
