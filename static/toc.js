// A chapter's contents (templates/chapter.html): the rail on a wide screen and the drawer on a
// narrow one mark the section being read (aria-current="location"); the drawer's summary names
// it, and the drawer closes once a link in it is followed. Without this file both still list
// and link every section.
(function () {
  "use strict";

  function setup() {
    const links = [...document.querySelectorAll(".toc a[href^='#']")];
    if (!links.length) return;
    const headings = [];
    for (const link of links) {
      const heading = document.getElementById(decodeURIComponent(link.hash.slice(1)));
      if (heading && !headings.includes(heading)) headings.push(heading);
    }
    const drawer = document.querySelector(".toc-drawer");
    const summary = drawer && drawer.querySelector("summary");
    const label = document.createElement("span");
    label.className = "toc-current";
    if (summary) summary.append(label);
    const rail = document.querySelector(".toc-rail");
    let shown = null;

    function current() {
      const line = Math.min(window.innerHeight * 0.3, 240);
      let found = null;
      for (const heading of headings) {
        if (heading.getBoundingClientRect().top <= line) found = heading;
        else break;
      }
      return found;
    }

    function mark() {
      const heading = current();
      if (heading === shown) return;
      shown = heading;
      for (const link of links) {
        if (heading && link.hash.slice(1) === heading.id) link.setAttribute("aria-current", "location");
        else link.removeAttribute("aria-current");
      }
      label.textContent = heading ? ": " + heading.textContent.replace(/#\s*$/, "").trim() : "";
      const active = rail && rail.querySelector("a[aria-current]");
      if (active) { // keep the marked entry inside the rail's own scroll box, never scroll the page
        const top = active.offsetTop - rail.offsetTop;
        if (top < rail.scrollTop || top > rail.scrollTop + rail.clientHeight - 24) rail.scrollTop = top - rail.clientHeight / 3;
      }
    }

    let pending = false;
    window.addEventListener("scroll", () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; mark(); });
    }, { passive: true });
    window.addEventListener("resize", mark);
    if (drawer) drawer.addEventListener("click", (event) => { if (event.target.closest("a")) drawer.open = false; });
    mark();
  }

  window.addEventListener("DOMContentLoaded", setup);
})();
