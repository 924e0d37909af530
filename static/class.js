// Classes (issue 24): the banner that tells a learner their teacher opened a question, the
// learner's class page that follows the poll, and the teacher's live view.
// Loaded only on pages of learners in a class and on the teacher's pages (templates/base.html).
(() => {
  "use strict";
  const VISIBLE_EVERY_S = 2;
  const HIDDEN_EVERY_S = 15; // a tab in the background asks rarely

  // --- the banner on every page, and the learner's class page ----------------------------
  function renderBanner(banner, classes) {
    const notices = classes.filter((c) => c.notice);
    banner.replaceChildren(...notices.map((c) => {
      const p = document.createElement("p");
      p.className = "class-notice";
      const text = document.createElement("span");
      text.textContent = c.notice.text + " ";
      const link = document.createElement("a");
      link.href = c.notice.href;
      link.textContent = c.notice.link;
      p.append(text, link);
      return p;
    }));
  }

  function followPolls() {
    const banner = document.getElementById("class-banner");
    if (!banner || !banner.dataset.pollUrl) return;
    const page = document.querySelector(".class-page[data-class-id]");
    let shown = null;
    async function ask() {
      let wait = document.hidden ? HIDDEN_EVERY_S : VISIBLE_EVERY_S;
      try {
        const response = await fetch(banner.dataset.pollUrl, { headers: { Accept: "application/json" } });
        if (response.status === 429) {
          wait = Math.max(wait, Number(response.headers.get("Retry-After")) || 10);
        } else if (response.ok) {
          const body = await response.json();
          const text = JSON.stringify(body.classes.map((c) => c.notice));
          if (text !== shown) { renderBanner(banner, body.classes); shown = text; }
          if (page) {
            const mine = body.classes.find((c) => c.id === page.dataset.classId);
            const version = mine && mine.poll ? mine.poll.version : "";
            if (mine && version !== page.dataset.pollVersion) { window.location.reload(); return; }
          }
          if (!document.hidden) wait = body.next_s || wait;
        }
      } catch (error) {
        wait = HIDDEN_EVERY_S; // the server is restarting, or the network is gone: ask again later
      }
      setTimeout(ask, wait * 1000);
    }
    setTimeout(ask, VISIBLE_EVERY_S * 1000);
  }

  // --- the teacher's live view ---------------------------------------------------------------
  function followLive() {
    const view = document.querySelector("[data-live-url]");
    if (!view || !window.EventSource) return;
    const state = document.getElementById("class-live-state");
    const say = (text) => { if (state) state.textContent = text; };
    const source = new EventSource(view.dataset.liveUrl);
    source.addEventListener("open", () => say("Live: updates as the class answers."));
    source.addEventListener("update", (event) => {
      const message = JSON.parse(event.data);
      for (const [id, html] of Object.entries(message.parts)) {
        const target = document.getElementById(id);
        if (target) target.innerHTML = html; // HTML the server rendered and escaped
      }
      view.dataset.updatedAt = String(message.at);
      say("Live: updated " + new Date().toLocaleTimeString() + ".");
    });
    source.addEventListener("reload", () => { source.close(); window.location.reload(); });
    source.addEventListener("error", () => say("Reconnecting to the live view..."));
    // The teacher's own action (open a poll, reveal, a second vote: a form) loads the page
    // again; the stream, noticing the poll change, would reload it a second time, under the
    // teacher's eyes (and under a test measuring the page)
    document.addEventListener("submit", () => source.close());
  }

  window.addEventListener("DOMContentLoaded", () => {
    followPolls();
    followLive();
  });
})();
