"""Coding exercises: read one, run the tests on your code (in the sandbox), see the results.

GET  /api/exercises          every exercise: id, title, chapter, this learner's status
GET  /api/exercises/{id}     statement, starter code, interface, visible tests, the learner's
                             last code; the hint tiers already asked for; the solution once
                             unlocked
POST /api/exercises/{id}     JSON {"code": "..."} -> {"passed", "tests", "stdout", "wall_time_s",
                             "attempts", "hint_level", "solution"}
POST /exercises/{id}         the same from the chapter's form (field `code`): the results
                             fragment for htmx, or a redirect back to the exercise
POST /api/exercises/{id}/hint  JSON {"level": 1 or 2}: the nudge, then the recipe; recorded
                             (the deepest tier opened is kept with the learner's progress)

Grading is an engine job (app/exercises/grading.py): bounded by the queue, cancelled when the
client leaves or sends newer code, and never run in this process. A time-out, a crash or the
memory limit is a graded failure; only a full queue or a server without a sandbox is a 503.
"""
from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field, StrictStr

from app.serving.engine import QueueFull
from app.course.exercises import Exercise
from app.exercises.grading import GradingRefused, grade, is_loopback
from app.web.limits import read_form
from app.web.jobs_http import Refused, StreamFailed, answer, busy, event_stream
from app.web.pages import exercises, is_htmx, render_fragment, store
from app.web.views.exercise import learner_progress, solution_unlocked
from app.web.views.review import now, schedule_exercise_run
from app.learning.progress import ExerciseProgress, ProgressStore
from app.web.learner import learner_id
from widgets.base import ParamError

router = APIRouter()
MAX_CODE_CHARS = 20_000


class Submission(BaseModel):
    """The learner's module, as text."""
    code: Annotated[StrictStr, Field(max_length=MAX_CODE_CHARS, description=(
        f"the whole module (Python source), at most {MAX_CODE_CHARS} characters"))]


class TestResult(BaseModel):
    name: str
    passed: bool
    message: str
    hidden: bool = False


class GradeResult(BaseModel):
    """Every test's outcome (visible ones first), what the code printed, how long it took."""
    passed: bool
    tests: list[TestResult]
    stdout: str
    wall_time_s: float
    attempts: int
    hint_level: int = Field(0, description="the deepest hint tier this learner opened: 0 none, 1 the "
                                           "nudge, 2 the recipe")
    solution: str | None = None


class ExerciseStatus(BaseModel):
    attempts: int
    passes: int
    solved: bool
    hint_level: int = 0


class HintRequest(BaseModel):
    """Which hint tier to show: 1 the nudge (what to think about), 2 the recipe (the steps)."""
    level: Annotated[int, Field(ge=1, le=2, strict=True, description="1: the nudge; 2: the recipe")]


class HintResult(BaseModel):
    hint_level: int
    hint: str
    recipe: str | None = None


class ExerciseSummary(BaseModel):
    id: str
    title: str
    chapter: str
    url: str
    status: ExerciseStatus


class ExerciseDetail(ExerciseSummary):
    statement: str
    interface: str
    module: str
    starter: str
    hint: str | None = Field(None, description="the nudge, once asked for (POST .../hint)")
    recipe: str | None = Field(None, description="the recipe, once asked for (level 2)")
    visible_tests: str
    visible_test_names: list[str]
    hidden_test_count: int
    last_code: str | None
    solution: str | None = None


def allow_limits_only(request: Request) -> bool:
    """Whether grading may fall back to resource limits alone: only for a server on loopback
    (a learner's own machine) or where the operator said so (COURSE_SANDBOX_UNSAFE_OK)."""
    server = request.scope.get("server") or (None, None)
    return request.app.state.settings.sandbox_unsafe_ok or is_loopback(server[0])


def exercise_or_404(request: Request, exercise_id: str) -> Exercise:
    found = exercises(request).get(exercise_id)
    if found is None:
        raise HTTPException(404, f"no exercise {exercise_id[:64]!r}; see /api/exercises")
    return found


def status_of(p: ExerciseProgress | None) -> dict:
    p = p or ExerciseProgress()
    return {"attempts": p.attempts, "passes": p.passes, "solved": p.solved, "hint_level": p.hint_level}


def summary(exercise: Exercise, p: ExerciseProgress | None) -> dict:
    return {"id": exercise.id, "title": exercise.title, "chapter": exercise.chapter,
            "url": exercise.url, "status": status_of(p)}


@router.get("/api/exercises", response_model=list[ExerciseSummary])
def exercises_api(request: Request, progress: ProgressStore = Depends(store)):
    """Every exercise, in chapter order, with this learner's attempts and passes."""
    mine = learner_progress(request, progress)
    return [summary(e, mine.get(e.id)) for e in exercises(request).values()]


@router.get("/api/exercises/{exercise_id}", response_model=ExerciseDetail)
def exercise_api(request: Request, exercise_id: str, progress: ProgressStore = Depends(store)):
    """The statement, interface, starter code and visible tests (hidden tests are only
    counted); the learner's last code; the hint tiers this learner already asked for; the
    solution after a pass or five failed attempts."""
    exercise = exercise_or_404(request, exercise_id)
    p = learner_progress(request, progress).get(exercise.id)
    level = p.hint_level if p else 0
    return {**summary(exercise, p), "statement": exercise.statement, "interface": exercise.interface,
            "module": exercise.module, "starter": exercise.starter,
            "hint": exercise.hint if level >= 1 else None, "recipe": exercise.recipe if level >= 2 else None,
            "visible_tests": exercise.visible_tests, "visible_test_names": exercise.visible_names,
            "hidden_test_count": len(exercise.hidden_names), "last_code": p.last_code if p else None,
            "solution": exercise.solution if solution_unlocked(p) else None}


async def graded(request: Request, exercise: Exercise, code: str, progress: ProgressStore) -> dict:
    """Grade, record the attempt, and add what the learner may now see. Refused(response)
    for the cases that are not a grade: busy, superseded, cancelled, a failed grader, the
    client gone (app/web/jobs_http.py maps each to its status), and no sandbox (503)."""
    learner, _ = learner_id(request)
    work = grade(request.app.state.engine, request.app.state.settings, allow_limits_only(request),
                 learner, exercise, code)
    try:
        result = await answer(request, work, what=f"grading {exercise.id}",
                              replaced="newer code for this exercise replaced it")
    except GradingRefused as error:  # no sandbox here, or the limits refuse it: try again later
        raise Refused(JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": "5"}))
    learner, _ = learner_id(request)
    failed = [{"name": t["name"], "hidden": t["hidden"]} for t in result["tests"] if not t["passed"]]
    await asyncio.to_thread(progress.record_attempt, learner, exercise.id, code, result["passed"], failed)
    p = (await asyncio.to_thread(progress.exercises, learner)).get(exercise.id)
    await asyncio.to_thread(schedule_exercise_run, progress, learner, exercise, result["passed"],
                            p.hint_level if p else 0, now(request))  # its review card
    return {"passed": result["passed"], "tests": result["tests"], "stdout": result["stdout"],
            "wall_time_s": result["wall_time_s"], "attempts": p.attempts if p else 1,
            "hint_level": p.hint_level if p else 0,
            "solution": exercise.solution if solution_unlocked(p) else None}


@router.post("/api/exercises/{exercise_id}", response_model=None, responses={
    200: {"model": GradeResult}, 409: {"description": "Newer code for this exercise replaced it"},
    503: {"description": "Busy, or no sandbox on this server (the message says which)"}})
async def submit_api(request: Request, exercise_id: str, submission: Submission = Body(...),
                     progress: ProgressStore = Depends(store)):
    """Run every test (visible and hidden) on the code, in the sandbox."""
    exercise = exercise_or_404(request, exercise_id)
    try:
        body = await graded(request, exercise, submission.code, progress)
    except Refused as refused:
        return refused.response
    return JSONResponse(body)


@router.post("/api/exercises/{exercise_id}/hint", response_model=HintResult)
def hint_api(request: Request, exercise_id: str, ask: HintRequest = Body(...),
             progress: ProgressStore = Depends(store)):
    """A hint tier, recorded with the learner's progress: level 1 is the nudge (what to think
    about), level 2 adds the recipe (the steps). The deepest tier opened is kept, so later
    reviews know the exercise was solved with help."""
    exercise = exercise_or_404(request, exercise_id)
    learner, _ = learner_id(request)
    level = progress.record_hint(learner, exercise.id, ask.level)
    body = {"hint_level": level, "hint": exercise.hint, "recipe": exercise.recipe if level >= 2 else None}
    return JSONResponse(body)


FORM_BODY = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["code"],
    "properties": {"code": {"type": "string", "maxLength": MAX_CODE_CHARS}}}}}}}


@router.post("/exercises/{exercise_id}", response_class=HTMLResponse, openapi_extra=FORM_BODY,
             responses={303: {"description": "A plain form post: back to the exercise"}})
async def submit_form(request: Request, exercise_id: str, progress: ProgressStore = Depends(store)):
    """The chapter's form: the results fragment (htmx), or back to the exercise."""
    exercise = exercise_or_404(request, exercise_id)
    codes = [value for key, value in await read_form(request) if key == "code"]
    if len(codes) != 1:
        raise ParamError("code", f"{len(codes)} values", "exactly one code field",
                         "send your code once, in the field `code`")
    code = codes[0].replace("\r\n", "\n")
    if len(code) > MAX_CODE_CHARS:
        raise ParamError("code", f"{len(code)} characters", f"at most {MAX_CODE_CHARS} characters",
                         f"your code is {len(code)} characters long; the limit is {MAX_CODE_CHARS}")
    try:
        body = await graded(request, exercise, code, progress)
    except Refused as refused:
        if not is_htmx(request):
            return refused.response
        message = json.loads(refused.response.body.decode()).get("detail", "the tests could not run")
        return render_fragment(request, "_exercise_refused.html", {"message": message},
                               status_code=refused.response.status_code)
    if not is_htmx(request):
        return RedirectResponse(exercise.url, status_code=303)
    from app.web.pages import exercise_tally

    tally = await asyncio.to_thread(exercise_tally, request)
    return render_fragment(request, "_exercise_result.html", {
        "exercise": exercise, "result": body, "tally": tally.get(exercise.chapter)})


# --- "train with your code" ------------------------------------------------------------------

def trainable(request: Request, exercise: Exercise, progress: ProgressStore) -> tuple[str | None, dict]:
    """(the code to train with, what to say about it): the learner's last graded code, passing
    or not (seeing what a bug does to training is the point); for a config to fix, the broken
    config itself until the learner runs the tests. None: nothing to train yet."""
    p = learner_progress(request, progress).get(exercise.id)
    if p and p.attempts and p.last_code:
        return p.last_code, {"passed": p.last_passed, "failed": p.last_failed, "starter": False}
    if exercise.trains == "config":
        return exercise.starter, {"passed": False, "failed": [], "starter": True}
    return None, {}


def trains_or_404(request: Request, exercise_id: str) -> Exercise:
    exercise = exercise_or_404(request, exercise_id)
    if not exercise.trains:
        raise HTTPException(404, f"exercise {exercise.id!r} has nothing to train with")
    return exercise


@router.get("/exercises/{exercise_id}/train", response_class=HTMLResponse)
def train_page(request: Request, exercise_id: str, progress: ProgressStore = Depends(store)):
    """The tiny GPT trained with the learner's last code beside a reference (a stream); the
    page says which tests that code fails."""
    from app.exercises.training_job import KINDS, REFERENCE_NAMES, SPEC
    from app.web.pages import render_page, sidebar_context

    exercise = trains_or_404(request, exercise_id)
    code, about = trainable(request, exercise, progress)
    context = sidebar_context(request, exercise.chapter)
    context.update(exercise=exercise, ready=code is not None, about=about, what=KINDS[exercise.trains],
                   reference_name=REFERENCE_NAMES[exercise.trains], spec=SPEC)
    return render_page(request, "exercise_train.html", context)


@router.get("/exercises/{exercise_id}/train/stream", responses={200: {
    "description": "Server-Sent Events: progress (new losses of both models; null where a run "
                   "diverged), then result or failed",
    "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def train_stream(request: Request, exercise_id: str, progress: ProgressStore = Depends(store)):
    """Train in the sandbox, as an engine job; the losses stream as they come."""
    from dataclasses import asdict

    from app.exercises.training_job import diverged_step, job_key, parting_step, train_job
    from app.course.exercises import lab_files, solution_config
    from app.exercises.grading import training_limits

    exercise = trains_or_404(request, exercise_id)
    code, _ = await asyncio.to_thread(trainable, request, exercise, progress)
    if code is None:
        raise HTTPException(409, "run the tests on your code first: the model trains with the code you last ran")
    settings = request.app.state.settings
    allow = allow_limits_only(request)
    learner, _ = learner_id(request)
    support = {**lab_files(settings.corpus_path), **exercise.support}
    reference = solution_config(exercise.solution) if exercise.trains == "config" else None
    try:
        handle = await request.app.state.engine.submit(
            job_key(exercise.id, code), train_job, exercise.trains, exercise.module, code, support, reference,
            settings.sandbox, allow, asdict(training_limits(settings)), owner=(learner, f"train:{exercise.id}"))
    except QueueFull as error:
        return busy(error)

    def shape(event: dict) -> dict | None:  # only the losses' events; the rest stay on the worker
        if "yours" not in event:
            return None
        return {k: event[k] for k in ("done", "total", "start", "yours", "torch", "lr_yours", "lr_torch")
                if k in event}

    async def finish(result: dict) -> dict:
        if result.get("error") and not result["steps"]:
            raise StreamFailed(result["error"])
        yours, theirs = result["yours"], result["torch"]
        return {"steps": result["steps"], "parted_at": parting_step(yours, theirs),
                "diverged_at": diverged_step(yours), "error": result.get("error"),
                "final": [yours[-1], theirs[-1]] if result["steps"] else None,
                "what": result["what"], "wall_time_s": result["wall_time_s"]}

    return event_stream(request, handle, finish, what=f"training {exercise.id} with the learner's code",
                        pending=request.app.state.engine.pending, shape=shape)

