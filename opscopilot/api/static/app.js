// The web chat: sign in with an API key (sessionStorage, never the URL), stream answers
// with fetch() (EventSource cannot send an Authorization header), render them with the
// DOM-only Markdown renderer, and keep the thread id in localStorage across reloads.
// Where the plant has an identity provider, "Sign in with your company account" sets an
// HttpOnly session cookie instead; the page then sends a header that marks its own requests.
import { renderMarkdown, safeHref } from "./markdown.js";

const KEY = "opscopilot.key";
const THREAD = "opscopilot.thread";
const $ = (id) => document.getElementById(id);

const state = {
  key: sessionStorage.getItem(KEY), session: false, thread: localStorage.getItem(THREAD), busy: false,
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function authHeaders(extra = {}) {
  if (state.session) return { "X-OpsCopilot-Session": "1", ...extra };
  return { Authorization: `Bearer ${state.key}`, ...extra };
}

async function errorText(response) {
  try {
    const body = await response.json();
    return body?.error?.message || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

// --- sign-in -------------------------------------------------------------------------

function show(signedIn) {
  $("signin").hidden = signedIn;
  $("chat").hidden = !signedIn;
  $("chat-actions").hidden = !signedIn;
  if (signedIn) $("question").focus();
  else $("key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const key = $("key").value.trim();
  $("signin-error").textContent = "";
  const response = await fetch("/api/v1/chat/threads", {
    headers: { Authorization: `Bearer ${key}` },
  });
  if (!response.ok) {
    $("signin-error").textContent = await errorText(response);
    return;
  }
  state.key = key;
  sessionStorage.setItem(KEY, key);
  $("key").value = "";
  show(true);
  await loadThread();
}

function signOut() {
  if (state.session) fetch("/auth/oidc/logout", { method: "POST" });
  sessionStorage.removeItem(KEY);
  state.key = null;
  state.session = false;
  $("messages").replaceChildren();
  show(false);
}

function newThread() {
  localStorage.removeItem(THREAD);
  state.thread = null;
  $("messages").replaceChildren();
  $("question").focus();
}

// --- messages ------------------------------------------------------------------------

function addUser(text) {
  const li = el("li", "msg user");
  li.append(el("div", "bubble", text));
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
}

class AssistantMessage {
  constructor() {
    this.li = el("li", "msg assistant");
    this.tools = el("ul", "tools");
    this.answer = el("div", "answer");
    this.status = el("div", "status");
    this.extras = el("div", "extras");
    this.li.append(this.tools, this.answer, this.status, this.extras);
    $("messages").append(this.li);
    this.text = "";
    this.pending = false;
    this.calls = new Map();
    this.lastId = 0;
    this.ended = false;
  }

  setText(text) {
    this.text = text;
    this.render();
  }

  render() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.answer.replaceChildren(renderMarkdown(this.text));
      this.li.scrollIntoView({ block: "end" });
    });
  }

  handle(type, data) {
    switch (type) {
      case "token":
        this.status.textContent = "";
        this.setText(this.text + (data.text ?? ""));
        break;
      case "status":
        this.status.textContent = data.text ?? "";
        break;
      case "tool_call": {
        const item = el("li", "tool running");
        const args = JSON.stringify(data.arguments ?? {});
        item.append(el("span", "tool-name", data.name ?? "tool"));
        const argsEl = el("span", "tool-args", args);
        argsEl.title = args;
        item.append(argsEl);
        const result = el("span", "tool-result");
        item.append(result);
        this.tools.append(item);
        this.calls.set(data.call_id ?? data.name, { item, result, name: data.name });
        break;
      }
      case "tool_result": {
        let call = this.calls.get(data.call_id ?? data.name);
        if (!call) {
          this.handle("tool_call", { name: data.name, call_id: data.call_id, arguments: {} });
          call = this.calls.get(data.call_id ?? data.name);
        }
        call.item.classList.remove("running");
        call.item.classList.add(data.ok === false ? "failed" : "ok");
        call.result.textContent = data.summary ?? "";
        call.result.title = data.summary ?? "";
        const chart = data.chart_url ?? data.data?.chart_url;
        if (typeof chart === "string") this.chart(chart);
        break;
      }
      case "approval_required": {
        for (const { item, result, name } of this.calls.values()) {
          if (item.classList.contains("running") && name === data.tool) {
            item.classList.replace("running", "waiting");
            result.textContent = "waiting for approval";
          }
        }
        this.approval(data);
        break;
      }
      case "done":
        this.ended = true;
        this.status.textContent = "";
        if (!this.text && data.answer) this.setText(data.answer);
        if (data.thread_id) rememberThread(data.thread_id);
        break;
      case "error":
        this.ended = true;
        this.status.textContent = "";
        this.extras.append(el("p", "error", data.message ?? "Something went wrong."));
        break;
      default:
        break;
    }
  }

  async chart(url) {
    const href = safeHref(url);
    if (href === null || !href.startsWith("/api/")) return;
    const response = await fetch(href, { headers: authHeaders() });
    if (!response.ok) return;
    const img = el("img", "chart");
    img.alt = "forecast chart";
    img.src = URL.createObjectURL(await response.blob());
    this.extras.append(img);
  }

  approval(data) {
    const card = el("div", "approval");
    card.append(el("strong", "", "Approval needed"));
    card.append(el("p", "", data.description ?? data.tool ?? "A change"));
    if (data.tool) card.append(el("p", "muted", `Tool: ${data.tool}`));
    const approve = el("button", "approve", "Approve");
    const reject = el("button", "reject ghost", "Reject");
    approve.type = reject.type = "button";
    const decide = async (decision) => {
      approve.disabled = reject.disabled = true;
      const note = el("p", "muted", decision === "approve" ? "Approving..." : "Rejecting...");
      card.append(note);
      const ok = await decideApproval(data.approval_id, decision, card);
      note.textContent = ok ? (decision === "approve" ? "Approved." : "Rejected.") : "";
    };
    approve.addEventListener("click", () => decide("approve"));
    reject.addEventListener("click", () => decide("reject"));
    const buttons = el("div", "buttons");
    buttons.append(approve, reject);
    card.append(buttons);
    this.extras.append(card);
  }
}

function rememberThread(threadId) {
  state.thread = threadId;
  localStorage.setItem(THREAD, threadId);
}

// --- streaming -----------------------------------------------------------------------

// Reads a text/event-stream body and hands each event to `message`; returns at the end.
async function readEvents(response, message) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let type = "message";
      let id = null;
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") type = value;
        else if (field === "id") id = value;
        else if (field === "data") data.push(value);
      }
      if (data.length === 0) continue;
      if (id !== null) message.lastId = Number(id);
      let parsed = {};
      try {
        parsed = JSON.parse(data.join("\n"));
      } catch {
        parsed = { text: data.join("\n") };
      }
      message.handle(type, parsed);
    }
  }
}

// Follows a run to its end; if the connection drops, resumes after the last event id.
async function follow(response, message, runId) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await readEvents(response, message);
    } catch {
      // a dropped connection: resumed below
    }
    if (message.ended || !runId || attempt >= 5) break;
    await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
    response = await fetch(`/api/v1/chat/runs/${encodeURIComponent(runId)}/events`, {
      headers: authHeaders({ "Last-Event-ID": String(message.lastId), Accept: "text/event-stream" }),
    });
    if (!response.ok) break;
  }
  if (!message.ended) message.handle("error", { message: "The connection was lost." });
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question || state.busy) return;
  state.busy = true;
  $("send").disabled = true;
  $("question").value = "";
  addUser(question);
  const message = new AssistantMessage();
  message.status.textContent = "Thinking...";
  try {
    const response = await fetch("/api/v1/chat", {
      method: "POST",
      headers: authHeaders({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify({ message: question, thread_id: state.thread }),
    });
    if (response.status === 401) {
      signOut();
      return;
    }
    if (!response.ok) {
      message.handle("error", { message: await errorText(response) });
      return;
    }
    const threadId = response.headers.get("X-Thread-Id");
    if (threadId) rememberThread(threadId);
    await follow(response, message, response.headers.get("X-Run-Id"));
  } finally {
    state.busy = false;
    $("send").disabled = false;
    $("question").focus();
  }
}

async function decideApproval(approvalId, decision, card) {
  const response = await fetch(`/api/v1/approvals/${encodeURIComponent(approvalId)}`, {
    method: "POST",
    headers: authHeaders({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify({ decision }),
  });
  if (!response.ok) {
    card.append(el("p", "error", await errorText(response)));
    return false;
  }
  const message = new AssistantMessage();
  await follow(response, message, response.headers.get("X-Run-Id"));
  return true;
}

// --- history -------------------------------------------------------------------------

async function loadThread() {
  $("messages").replaceChildren();
  if (!state.thread) return;
  const response = await fetch(`/api/v1/chat/threads/${encodeURIComponent(state.thread)}`, {
    headers: authHeaders(),
  });
  if (response.status === 401) return signOut();
  if (!response.ok) return newThread();
  const thread = await response.json();
  const running = thread.last_run?.status === "running" ? thread.last_run.run_id : null;
  for (const m of thread.messages) {
    if (m.role === "user") {
      addUser(m.content);
    } else if (m.run_id !== running) {
      const message = new AssistantMessage();
      message.setText(m.content);
      if (m.status === "error" || m.status === "cancelled") {
        message.extras.append(el("p", "error", m.error || "This answer did not finish."));
      }
    }
  }
  for (const approval of thread.pending_approvals) {
    new AssistantMessage().approval({ ...approval, description: approval.description });
  }
  if (running) {
    const message = new AssistantMessage();
    const replay = await fetch(`/api/v1/chat/runs/${encodeURIComponent(running)}/events`, {
      headers: authHeaders({ Accept: "text/event-stream" }),
    });
    if (replay.ok) await follow(replay, message, running);
  }
}

function start() {
  $("signin-form").addEventListener("submit", signIn);
  $("ask-form").addEventListener("submit", ask);
  $("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("ask-form").requestSubmit();
    }
  });
  $("sign-out").addEventListener("click", signOut);
  $("new-thread").addEventListener("click", newThread);
  show(Boolean(state.key));
  if (state.key) loadThread();
  else checkSession();
}

async function checkSession() {
  const response = await fetch("/auth/session");
  if (!response.ok) return;
  const session = await response.json();
  $("sso").hidden = !session.oidc;
  if (!session.signed_in) return;
  state.session = true;
  show(true);
  await loadThread();
}

start();
