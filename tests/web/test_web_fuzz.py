"""Fuzzing: schemathesis against the app's own /openapi.json, every operation, each widget's too.

For every operation schemathesis generates requests from the schema, valid ones and invalid
ones (wrong types, out of bounds, bad patterns, bad bodies), and checks every answer: no 5xx;
the status and the content type are documented; the body matches the documented schema (so
every 4xx is in app/web/errors.py's shape); an invalid request is refused. Bounded: a fixed number
of examples per operation, derandomized, no example database, and a time budget per
operation (OPERATION_BUDGET_S).

Training is never run by the fuzzer: in this app the widget engine trains only the quick
widgets (shared_runs.QUICK_WIDGETS: under a second each, the real computation on the in-process engine); every
other widget's uncached run is answered at once as superseded, as when a learner's newer
setting replaces it (409 / a `cancelled` event). Their validation, routing, fragments and
error paths are fuzzed like the rest, and the shape of their real results is checked against
the schema in test_every_widget_result_matches_its_documented_model at their cheapest setting.
"""
from __future__ import annotations

import importlib
import pkgutil
import time
import warnings

import pytest

from app.serving.engine import Superseded
from shared_runs import QUICK_WIDGETS
from widgets.registry import all_widgets

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings as hypothesis_settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import checks as st_checks
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi import checks as openapi_checks


def import_every_module(package) -> None:
    """Import all of `package` now. Schemathesis is a pytest plugin, so its modules are compiled
    through pytest's assertion rewriting (ast.parse) when first imported, and it imports many
    lazily, mid-test (the dictionaries module only for some parameters). On CPython 3.11 an
    ast.parse after another test's RecursionError (test_web_errors' deeply nested JSON) can fail
    with "SystemError: AST constructor recursion depth mismatch": importing one module early
    moved the failure to the next lazy one, so every module is imported at collection."""
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + ".", onerror=lambda name: None):
        try:
            importlib.import_module(module.name)
        except Exception:  # a module for an optional extra this project does not install
            pass


with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import_every_module(schemathesis)

# Fuzzing every operation takes about two minutes here: part of `make test`, not of the
# developers' quick loop (`make test-fast` leaves slow tests out)
pytestmark = pytest.mark.slow

# per operation and generation mode. Most of the time goes to generating the cases (hypothesis
# drawing from schemathesis's strategies: seven tenths of a py-spy profile), not to the app. A
# widget's seven operations are one implementation (app/web/routes/widgets.py) under that
# widget's parameter schema, so each widget's get half as many as the course's sixteen, which
# are sixteen implementations
EXAMPLES = 8
WIDGET_EXAMPLES = 4
# Time, too: once an operation has been fuzzed this long, its remaining generated cases are
# not sent (measured on 2 busy cores: one widget's 7 operations take 1-5 s together, the
# course's 15 about 9 s, the whole file about 60 s; the budget is never reached there)
OPERATION_BUDGET_S = 30.0
CHECKS = [st_checks.not_a_server_error, openapi_checks.status_code_conformance,
          openapi_checks.content_type_conformance, openapi_checks.response_schema_conformance,
          openapi_checks.negative_data_rejection]
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy")


class SupersededAtOnce:
    """An engine handle whose job was replaced before it started: nothing trains."""

    key = "fuzz"
    over = True

    def take(self, index):
        return [], index

    async def wait(self, timeout=None):
        return True

    async def result(self):
        raise Superseded("fuzz: a newer setting replaced this run")

    def release(self):
        pass


class FuzzJobs:
    """The app's WidgetJobs, training only the quick widgets."""

    def __init__(self, real):
        self.real = real
        self.engine = real.engine

    def __getattr__(self, name):
        return getattr(self.real, name)

    async def follow(self, widget, values, **kwargs):
        if widget.name in QUICK_WIDGETS:
            return await self.real.follow(widget, values, **kwargs)
        return SupersededAtOnce()


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory):
    from app.main import create_app
    from app.settings import Settings

    where = tmp_path_factory.mktemp("fuzz")
    app = create_app(Settings(database_path=where / "progress.sqlite3", warm_cache=False,
                              scheduler="inprocess", cache_url="memory://"))
    app.state.jobs = FuzzJobs(app.state.jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return schemathesis.openapi.from_asgi("/openapi.json", app)


def operations(schema, group: str):
    """The operations of one widget (its five paths), or of everything else ("course")."""
    names = set(all_widgets())
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        parts = operation.path.strip("/").split("/")
        widget = parts[2] if parts[:2] == ["api", "widgets"] and len(parts) > 2 else (
            parts[1] if parts[0] == "widgets" and len(parts) > 1 else None)
        widget = widget if widget in names else None
        if widget == group or (group == "course" and widget is None):
            found.append(operation)
    return found


def fuzz(operation, examples: int = EXAMPLES) -> int:
    calls = 0
    started = time.monotonic()

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        @hypothesis_settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                             phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            nonlocal calls
            if time.monotonic() - started > OPERATION_BUDGET_S:
                return  # out of time: the cases already sent stand, the rest are skipped
            response = case.call_and_validate(checks=CHECKS)
            calls += 1
            for header in SECURITY_HEADERS:
                assert header in response.headers, (operation.label, header)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                run()
            except Unsatisfiable:  # nothing to get wrong: no parameter, body or bound to break
                assert mode is GenerationMode.NEGATIVE, operation.label
    return calls


@pytest.mark.parametrize("group", sorted(all_widgets()) + ["course"])
def test_fuzz_every_operation(fuzz_schema, group):
    ops = operations(fuzz_schema, group)
    expected = 7 if group != "course" else 16  # 5 paths, 7 operations per widget
    assert len(ops) >= expected, [o.label for o in ops]
    for operation in ops:
        examples = EXAMPLES if group == "course" else WIDGET_EXAMPLES
        assert fuzz(operation, examples) > 0, f"{operation.label} was never called"


def test_the_schema_has_one_operation_per_widget_with_its_parameters(client):
    doc = client.get("/openapi.json").json()
    for name, widget in all_widgets().items():
        get = doc["paths"][f"/api/widgets/{name}"]["get"]
        declared = {p["name"]: p for p in get["parameters"] if p["in"] == "query"}
        assert set(declared) == {p.name for p in widget.params} | {"instance"}
        for p in widget.params:
            schema = declared[p.name]["schema"]
            if p.kind in ("float", "int") and p.values:  # only these values (seeds: 1, 3 or 5)
                assert schema["enum"] == list(p.values) and schema["default"] == p.default
            elif p.kind in ("float", "int"):
                assert schema["type"] == ("number" if p.kind == "float" else "integer")
                assert (schema["minimum"], schema["maximum"], schema["default"]) == (p.min, p.max, p.default)
            elif p.kind == "choice":
                assert schema["enum"] == list(p.choices) and schema["default"] == p.default
            elif p.kind == "bool":
                assert schema["type"] == "boolean"
            else:
                assert schema["maxLength"] <= p.max_length
            assert declared[p.name]["description"]
        ok = get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ok.endswith("Result") and {"422", "500", "503"} <= set(get["responses"])
        assert "requestBody" in doc["paths"][f"/api/widgets/{name}"]["post"]
        assert {"/widgets/" + name, f"/widgets/{name}/stream", f"/widgets/{name}/demo",
                f"/widgets/{name}/notebook"} <= set(doc["paths"])
    assert "/api/widgets/{name}" not in doc["paths"], "the template is replaced by one path per widget"
    quiz = doc["paths"]["/api/quiz/{slug}/{qid}"]["post"]
    assert quiz["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/Answer")
    assert quiz["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Graded")
    answer = doc["components"]["schemas"]["Answer"]["properties"]["selected"]
    assert answer["minItems"] == 1 and answer["items"]["type"] == "integer"


def cheapest(widget) -> dict:
    """The widget's defaults with every step count at its minimum (when the rules allow it)."""
    from widgets.base import ParamError

    values = {p.name: p.default for p in widget.params}
    shorter = {**values, **{p.name: p.min for p in widget.params if p.name in ("steps", "iterations")}}
    try:
        widget.canonicalize(shorter)
        return shorter
    except ParamError:
        return values


@pytest.mark.parametrize("name", sorted(all_widgets()))
def test_every_widget_result_matches_its_documented_model(client, name):
    """A real result, one cheap run through the engine, validated against the published schema."""
    import jsonschema_rs  # schemathesis's own validator

    widget = all_widgets()[name]
    doc = client.get("/openapi.json").json()
    query = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in cheapest(widget).items()}
    response = client.get(f"/api/widgets/{name}", params=query)
    assert response.status_code == 200, (name, response.text[:300])
    ref = doc["paths"][f"/api/widgets/{name}"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"]["$ref"]
    jsonschema_rs.validator_for({"$ref": ref, "components": doc["components"]}).validate(response.json())
