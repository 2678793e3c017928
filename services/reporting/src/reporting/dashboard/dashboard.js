// The PMO wall: the portfolio's funnel, health, gate queue and decisions, kept live by
// reporting's event stream. No build step, no library: fetch, a streaming reader and the DOM.

const FUNNEL = ["draft", "submitted", "screening", "qualified", "approved", "deferred",
                "rejected", "withdrawn", "recycled"];
const RAG = ["green", "amber", "red"];
const KEPT = 30;

const $ = (id) => document.getElementById(id);
let token = null;
let lastEventId = null;
let refreshTimer = null;
const titles = new Map();

function readToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem("gatehouse-token", fromHash);
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem("gatehouse-token");
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (response.status === 401) {
    sessionStorage.removeItem("gatehouse-token");
    throw new Error("the token was refused");
  }
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function hours(value) {
  return value < 48 ? `${value.toFixed(1)} h` : `${(value / 24).toFixed(1)} d`;
}

function renderPortfolio(portfolio) {
  for (const project of portfolio.projects) titles.set(project.id, project.title);
  const counts = portfolio.count_by_status;
  const widest = Math.max(1, ...Object.values(counts));
  $("funnel").replaceChildren(...FUNNEL.filter((s) => counts[s]).map((status) => el("li",
    { "data-status": status },
    el("span", {}, status),
    el("span", { class: "bar", style: `width:${(100 * counts[status]) / widest}%` }),
    el("span", { class: "count" }, String(counts[status])))));
  $("project-count").textContent = `${portfolio.count} ${portfolio.count === 1 ? "project" : "projects"}`;
  $("cost").textContent = Object.entries(portfolio.cost_by_currency)
    .map(([currency, amount]) => `${Number(amount).toLocaleString()} ${currency}`).join(" · ");
  const rag = portfolio.count_by_rag;
  const reported = RAG.reduce((sum, colour) => sum + (rag[colour] || 0), 0);
  $("rag").replaceChildren(...[...RAG, "unreported"].map((colour) => el("li",
    { class: colour, "data-rag": colour },
    el("b", {}, String(colour === "unreported" ? portfolio.count - reported : rag[colour] || 0)),
    colour)));
  $("queue").replaceChildren(...portfolio.waiting_at_gate.map((wait) => el("tr",
    { class: wait.overdue ? "overdue" : "", "data-review": wait.review_id },
    el("td", {}, wait.title), el("td", {}, `${wait.gate} · ${wait.gate_name}`),
    el("td", {}, hours(wait.waiting_hours)))));
}

function decisionItem(decision) {
  return el("li", { "data-review": decision.review_id },
    el("span", { class: `outcome ${decision.decision}` }, decision.decision), " ",
    `${decision.gate} · ${titles.get(decision.project_id) || decision.project_id.slice(0, 8)}`, " ",
    el("time", {}, new Date(decision.time).toLocaleTimeString()));
}

async function loadDecisions() {
  try {
    const page = await api("/v1/audit/decisions?kind=decision&sort=-time&limit=10");
    $("decisions").replaceChildren(...page.items.map(decisionItem));
  } catch {
    $("decisions").replaceChildren(el("li", {}, "(decisions need the auditor or pmo_admin role)"));
  }
}

async function refresh() {
  renderPortfolio(await api("/v1/portfolio"));
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refresh().catch(showError), 250);
}

function onEvent(name, payload) {
  const feed = $("feed");
  feed.prepend(el("li", { "data-event": name },
    el("time", {}, new Date(payload.time).toLocaleTimeString()), " ", name, " ",
    payload.project_id ? titles.get(payload.project_id) || payload.project_id.slice(0, 8) : "",
    payload.actor ? ` by ${payload.actor}` : ""));
  while (feed.children.length > KEPT) feed.lastChild.remove();
  if (name === "GateDecided") {
    const data = payload.data;
    $("decisions").prepend(decisionItem({ review_id: data.review_id, decision: data.outcome,
      gate: data.gate, project_id: data.project_id, time: payload.time }));
  }
  scheduleRefresh();
}

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

function showError(error) {
  setStatus("offline", String(error.message || error));
}

async function follow() {
  // EventSource cannot send a bearer token, so read the stream with fetch.
  for (;;) {
    try {
      const headers = { Authorization: `Bearer ${token}`, Accept: "text/event-stream" };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      const response = await fetch("/v1/events/stream", { headers });
      if (!response.ok) throw new Error(`event stream: ${response.status}`);
      setStatus("live", "live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = {};
          for (const line of frame.split("\n")) {
            if (line.startsWith(":")) continue;
            const at = line.indexOf(": ");
            if (at > 0) fields[line.slice(0, at)] = line.slice(at + 2);
          }
          if (fields.id) lastEventId = fields.id;
          if (fields.data) onEvent(fields.event, JSON.parse(fields.data));
        }
      }
      setStatus("connecting", "reconnecting…");
    } catch (error) {
      showError(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function start() {
  token = readToken();
  if (!token) {
    $("login").hidden = false;
    $("login").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem("gatehouse-token", $("token").value.trim());
      location.reload();
    });
    setStatus("offline", "needs a token");
    return;
  }
  $("wall").hidden = false;
  try {
    await refresh();
    await loadDecisions();
  } catch (error) {
    showError(error);
  }
  setInterval(() => refresh().catch(showError), 60000);  // ages move even when nothing happens
  follow();
}

start();
