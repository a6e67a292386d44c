// Threadline console: the playground. Speaks /v1/workflow-runs/ws (the same frames
// as the SDK) with the session cookie; no framework, no build.
(function () {
  "use strict";
  const root = document.getElementById("playground");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const workflowId = root.dataset.workflow;
  const version = Number(root.dataset.version);
  let socket = null, runId = null, bubble = null, status = "not started", last = null;

  function setState(text) {
    status = text;
    $("play-state").textContent = text;
    const waiting = text === "waiting_for_user_input";
    $("play-message").disabled = !waiting;
    $("play-send").disabled = !waiting;
    $("play-pause").disabled = !waiting;
    $("play-resume").disabled = text !== "paused";
    $("play-stop").disabled = !runId || ["completed", "failed", "cancelled",
      "aborted_looping_risk", "closed"].includes(text);
  }

  function say(role, text) {
    const div = document.createElement("div");
    div.className = "msg " + (role === "user" ? "human" : "ai");
    div.dataset.role = role;
    div.textContent = text;
    $("play-transcript").appendChild(div);
    return div;
  }

  function logEvent(text, kind) {
    const li = document.createElement("li");
    li.className = kind || "other";
    li.textContent = text;
    $("play-events").appendChild(li);
  }

  function mark(nodeId, cls, only) {
    if (only) document.querySelectorAll("#play-graph ." + cls)
      .forEach((g) => g.classList.remove(cls));
    const g = document.querySelector('#play-graph [data-node="' + CSS.escape(nodeId) + '"]');
    if (g) g.classList.add(cls);
  }

  function describe(e) {
    const node = e.origin_node_name || e.origin_node_logical_id || "";
    const u = e.llm_usage_info;
    switch (e.type) {
      case "start_node_run": return ["Entered node " + node, "enter"];
      case "end_node_run": return ["Left node " + node, "leave"];
      case "user_messages": return ["User message", "user"];
      case "assistant_response": return ["Reply from " + node + ": " + e.content, "reply"];
      case "busy_wait_for_user_message": return ["Waiting for the user at " + node, "wait"];
      case "workflow_error": return ["Error: " + e.error_message, "error"];
      default:
        if (u && e.type.endsWith("llm")) return ["LLM call at " + node + ": " +
          (u.response_model || u.model) + ", " + u.total_tokens + " tokens, " +
          u.response_latency_milliseconds + " ms", "llm"];
        if (e.type.endsWith("_edge")) return ["Edge " + (e.edge_name || e.edge_logical_id) +
          " taken: " + e.source_node_logical_id + " → " + e.destination_node_logical_id, "edge"];
        return [e.type + (node ? " at " + node : ""), "other"];
    }
  }

  function onFrame(frame) {
    if (frame.workflow_run_id && !runId) {
      runId = frame.workflow_run_id;
      const link = $("run-link");
      link.href = "/ui/runs/" + runId;
      link.hidden = false;
    }
    const t = frame.type;
    if (t === "assistant_response_delta") {
      if (!bubble) bubble = say("reply", "");
      bubble.textContent += frame.content || "";
      return;
    }
    const [text, kind] = describe(frame);
    logEvent(text, kind);
    if (t === "assistant_response") {
      if (bubble) bubble.textContent = frame.content; else say("reply", frame.content);
      bubble = null;
    } else if (t === "start_node_run") {
      mark(frame.origin_node_logical_id, "on-path", false);
    } else if (t === "busy_wait_for_user_message") {
      mark(frame.origin_node_logical_id, "waiting", true);
    } else if (t === "workflow_ready_for_input") {
      setState(frame.status || "waiting_for_user_input");
    } else if (t === "pause_event") {
      setState("paused");
    } else if (t === "end_workflow") {
      setState(last === "stop" ? "cancelled" : "completed");
    } else if (t === "workflow_error") {
      if (frame.code) say("reply", "⚠ " + frame.error_message);
      setState(frame.code ? status : "failed");
    }
  }

  function send(frame) {
    $("play-events").innerHTML = "";
    document.querySelectorAll("#play-graph .on-path").forEach((g) => g.classList.remove("on-path"));
    setState("running");
    socket.send(JSON.stringify(frame));
  }

  function connect(first) {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/v1/workflow-runs/ws");
    socket.onopen = () => send(first);
    socket.onmessage = (m) => onFrame(JSON.parse(m.data));
    socket.onclose = (c) => {
      if (c.code !== 1000) say("reply", "⚠ connection closed: " + (c.reason || c.code));
      if (last === "stop") setState("cancelled");
      else if (!["completed", "cancelled", "failed", "aborted_looping_risk"].includes(status))
        setState(c.code === 1000 ? "closed" : "disconnected");
      socket = null;
    };
  }

  function command(name, extra) {
    last = name;
    const frame = Object.assign({ workflow_run_id: runId, command: name,
      thread_to_node_inputs: { "0": { node_run_inputs: [] } } }, extra || {});
    if (!socket) connect(frame); else send(frame);
  }

  $("play-start").addEventListener("click", () => {
    let variables;
    try { variables = JSON.parse($("play-variables").value || "{}"); }
    catch (err) { say("reply", "⚠ dynamic variables: not valid JSON"); return; }
    if (socket) socket.close(1000);
    runId = null; bubble = null; last = "start";
    $("play-transcript").innerHTML = "";
    $("run-link").hidden = true;
    document.querySelectorAll("#play-graph .waiting").forEach((g) => g.classList.remove("waiting"));
    connect({ workflow_id: workflowId, version_number: version, command: "start",
      dynamic_variables: variables, run_by: "console playground",
      thread_to_node_inputs: { "0": { node_run_inputs: [] } } });
  });
  $("play-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("play-message").value.trim();
    if (!text || !runId) return;
    $("play-message").value = "";
    say("user", text);
    command("data", { thread_to_node_inputs: { "0": { node_run_inputs: [
      { type: "llm", messages: [{ type: "human", content: text }] }] } } });
  });
  $("play-pause").addEventListener("click", () => command("pause"));
  $("play-resume").addEventListener("click", () => command("resume"));
  $("play-stop").addEventListener("click", () => command("stop"));
  setState("not started");
})();
