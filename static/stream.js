// The one reader of the course's job streams (Server-Sent Events; the events are documented
// in app/web/jobs_http.py: queued, progress, result, failed, cancelled).
//
//   const outcome = await CourseStream.read(url, { signal, onEvent: (kind, data) => ... });
//   outcome: { ended: true }                       the stream ran to its end
//            { busy: seconds }                     503: the queue is full, ask again after Retry-After
//            { refused: status, message }          any other answer than 200 (a 422 says which value)
//   It rejects when the connection fails, or with an AbortError when `signal` aborts.
//
// fetch, not EventSource: a 503's Retry-After and a 422's message are readable, closing is an
// abort, and nothing reconnects on its own to start a run twice.
window.CourseStream = (function () {
  "use strict";

  // Complete events out of `buffer`; returns what is left of it (an event not ended yet).
  function parse(buffer, onEvent) {
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let kind = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) kind = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length) onEvent(kind, JSON.parse(data.join("\n")));
    }
    return buffer;
  }

  // The readable message of a refused request: {"detail": "..."} or a 422's list of problems.
  async function message(response) {
    try {
      const body = await response.json();
      if (typeof body.detail === "string") return body.detail;
      if (Array.isArray(body.detail) && body.detail.length) return body.detail[0].msg;
    } catch (error) { /* not JSON: the status says it */ }
    return "The server answered " + response.status + ".";
  }

  async function read(url, { signal, onEvent }) {
    const response = await fetch(url, { signal, headers: { Accept: "text/event-stream" } });
    if (response.status === 503) return { busy: Number(response.headers.get("Retry-After") || 5) };
    if (!response.ok) return { refused: response.status, message: await message(response) };
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { ended: true };
      buffer = parse(buffer + value, onEvent);
    }
  }

  return { read, parse };
})();
