// Glossary terms in the prose (a.glossary-term, app/course/glossary.py) show their definition
// in a popover on hover, on keyboard focus and on a tap, with a link to the glossary entry.
// Without this file the term keeps its title tooltip and links to the glossary.
// On a touch screen the first tap opens the popover; a second tap on the term follows it.
(function () {
  "use strict";
  let open = null; // {term, box, tapped}
  let hideTimer = 0;
  let lastPointer = "mouse";

  function hide() {
    clearTimeout(hideTimer);
    if (!open) return;
    open.term.removeAttribute("aria-describedby");
    open.box.remove();
    open = null;
  }

  function hideSoon() {
    clearTimeout(hideTimer);
    hideTimer = setTimeout(hide, 250);
  }

  function show(term) {
    clearTimeout(hideTimer);
    if (open && open.term === term) return;
    hide();
    const definition = term.dataset.definition;
    if (!definition) return;
    const box = document.createElement("div");
    box.className = "glossary-popover";
    box.id = "glossary-popover";
    box.setAttribute("role", "tooltip");
    const name = document.createElement("strong");
    name.textContent = term.textContent;
    const text = document.createElement("span");
    text.textContent = definition;
    const more = document.createElement("a");
    more.href = term.getAttribute("href");
    more.textContent = "More in the glossary";
    box.append(name, text, document.createElement("br"), more);
    box.addEventListener("mouseenter", () => clearTimeout(hideTimer));
    box.addEventListener("mouseleave", hideSoon);
    document.body.append(box);
    const rect = term.getBoundingClientRect();
    const width = box.offsetWidth;
    const left = Math.max(8, Math.min(rect.left, document.documentElement.clientWidth - width - 8));
    box.style.left = window.scrollX + left + "px";
    box.style.top = window.scrollY + rect.bottom + 6 + "px";
    term.setAttribute("aria-describedby", box.id);
    open = { term, box };
  }

  function termOf(event) {
    return event.target.closest && event.target.closest("a.glossary-term");
  }

  function setup() {
    for (const term of document.querySelectorAll("a.glossary-term[title]")) {
      term.dataset.definition = term.title; // the popover replaces the browser's tooltip
      term.removeAttribute("title");
    }
    document.addEventListener("pointerdown", (event) => { lastPointer = event.pointerType || "mouse"; }, true);
    document.addEventListener("mouseover", (event) => { const t = termOf(event); if (t && lastPointer === "mouse") show(t); });
    document.addEventListener("mouseout", (event) => { const t = termOf(event); if (t && open && open.term === t) hideSoon(); });
    document.addEventListener("focusin", (event) => {
      const t = termOf(event);
      if (t) show(t);
      else if (open && !open.box.contains(event.target)) hide();
    });
    document.addEventListener("click", (event) => {
      const t = termOf(event);
      // a tap focuses the term first (which opens the popover): only a second tap follows it
      if (t && lastPointer !== "mouse" && !(open && open.term === t && open.tapped)) {
        event.preventDefault();
        show(t);
        if (open) open.tapped = true;
        return;
      }
      if (!t && open && !open.box.contains(event.target)) hide();
    });
    document.addEventListener("keydown", (event) => { if (event.key === "Escape" && open) { const t = open.term; hide(); t.focus(); } });
  }

  window.addEventListener("DOMContentLoaded", setup);
})();
