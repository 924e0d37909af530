// The exercise editor: CodeMirror 6 with Python, bundled at set-up (make setup runs esbuild on
// this file into node_modules/.course-bundle/editor.js, served as /vendor/editor.js).
// static/exercises.js calls window.CourseEditor.attach(textarea): the textarea stays the form
// field (its value is kept in step), so the form and htmx work with or without this bundle.
import { EditorView, basicSetup } from "codemirror";
import { keymap } from "@codemirror/view";
import { indentWithTab } from "@codemirror/commands";
import { indentUnit } from "@codemirror/language";
import { python } from "@codemirror/lang-python";

function attach(textarea) {
  const view = new EditorView({
    doc: textarea.value,
    extensions: [
      basicSetup,
      keymap.of([indentWithTab]), // Tab indents; Esc then Tab moves focus on (CodeMirror's rule)
      indentUnit.of("    "),
      python(),
      EditorView.contentAttributes.of({ "aria-label": textarea.getAttribute("aria-label") || "Python code" }),
      EditorView.updateListener.of((update) => {
        if (update.docChanged) textarea.value = update.state.doc.toString();
      }),
    ],
  });
  textarea.hidden = true;
  textarea.parentElement.insertBefore(view.dom, textarea);
  textarea.courseEditor = {
    view,
    set(text) { view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }); },
    focus() { view.focus(); },
  };
  return view;
}

window.CourseEditor = { attach };
