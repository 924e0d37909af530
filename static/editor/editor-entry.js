// The exercise editor: CodeMirror 6 with Python, bundled at set-up (make setup runs esbuild on
// this file into node_modules/.course-bundle/editor.js, served as /vendor/editor.js).
// static/exercises.js calls window.CourseEditor.attach(textarea): the textarea stays the form
// field (its value is kept in step), so the form and htmx work with or without this bundle.
import { EditorView, basicSetup } from "codemirror";
import { keymap } from "@codemirror/view";
import { Compartment } from "@codemirror/state";
import { indentWithTab } from "@codemirror/commands";
import { indentUnit, syntaxHighlighting } from "@codemirror/language";
import { python } from "@codemirror/lang-python";
import { classHighlighter } from "@lezer/highlight";

// Colours follow the page's theme (light or dark, prefers-color-scheme): tokens get classes
// (tok-keyword, tok-string, ...) that static/course.css colours for each theme at WCAG AA
// contrast, and the editor's own chrome (cursor, selection, panels) switches with the page.
const darkScheme = window.matchMedia("(prefers-color-scheme: dark)");
const pageTheme = () => EditorView.darkTheme.of(darkScheme.matches);

function attach(textarea) {
  const theme = new Compartment();
  const view = new EditorView({
    doc: textarea.value,
    extensions: [
      basicSetup,
      syntaxHighlighting(classHighlighter), // replaces basicSetup's fixed light colours
      theme.of(pageTheme()),
      keymap.of([indentWithTab]), // Tab indents; Esc then Tab moves focus on (CodeMirror's rule)
      indentUnit.of("    "),
      python(),
      EditorView.contentAttributes.of({ "aria-label": textarea.getAttribute("aria-label") || "Python code" }),
      EditorView.updateListener.of((update) => {
        if (update.docChanged) textarea.value = update.state.doc.toString();
      }),
    ],
  });
  darkScheme.addEventListener("change", () => view.dispatch({ effects: theme.reconfigure(pageTheme()) }));
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
