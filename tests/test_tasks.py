"""Uploads handed to a task worker (``WXPAY_MEDIA['BACKGROUND_UPLOADS']``).

The task framework's own in-process backends stand in for a worker here: the
dummy backend keeps what was enqueued (so a test sees *what* and *when*), the
immediate one runs it at once. The real worker process is in
``test_tasks_worker.py``. Skipped where no task framework is installed
(Django 5.2 without ``django-tasks``).
"""

from __future__ import annotations

import logging
import sys
from importlib.util import find_spec

import pytest
from django.core.checks import run_checks
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from django_wxpay_media import conf, services
from django_wxpay_media.checks import check_background_uploads, check_settings
from django_wxpay_media.models import FeedbackImage
from django_wxpay_media.outcome import UploadState

from .admin_helpers import ADD, CHANGELIST, failed_image, messages_of, pending_image
from .images import png, png_bytes

if find_spec("django.tasks") is not None:  # Django 6+
    FRAMEWORK = "django.tasks"
elif find_spec("django_tasks") is not None:
    FRAMEWORK = "django_tasks"
else:  # pragma: no cover - CI installs the tasks extra
    pytest.skip("no task framework: Django 6's django.tasks or pip install django-tasks", allow_module_level=True)

from django_wxpay_media import tasks
from tests.helpers import fuzz

pytestmark = pytest.mark.django_db

Status = FeedbackImage.Status
DUMMY = f"{FRAMEWORK}.backends.dummy.DummyBackend"
IMMEDIATE = f"{FRAMEWORK}.backends.immediate.ImmediateBackend"
REPLY_ADD = "admin:formexample_complaintreply_add"


def task_backends():
    if FRAMEWORK == "django.tasks":
        from django.tasks import task_backends
    else:
        from django_tasks import task_backends
    return task_backends


@pytest.fixture
def on_workers(settings, wxpay_settings):
    """BACKGROUND_UPLOADS on, the dummy backend as "default": returns the backend (its ``results``)."""
    settings.TASKS = {"default": {"BACKEND": DUMMY}}
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "BACKGROUND_UPLOADS": True}
    backend = task_backends()["default"]
    backend.clear()
    return backend


def enqueued_pks(backend) -> list:
    return [result.args[0] for result in backend.results if result.task.name == "upload_feedback_image"]


# -- the admin add view ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_add_view_enqueues_and_staff_see_queued_and_pending(admin_client, wxpay_settings, on_workers):
    response = admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("收据.png", png_bytes(1))}, follow=True)

    image = FeedbackImage.objects.get()
    assert image.status == Status.PENDING
    assert wxpay_settings.uploads == []  # nothing sent in the request
    assert enqueued_pks(on_workers) == [image.pk]  # the pk, never the bytes
    assert response.redirect_chain[-1][0] == reverse(CHANGELIST)  # where the list shows its status
    assert messages_of(response) == [
        "“收据.png” has been saved and queued for upload to WeChat Pay. Its status is “Pending” until a "
        "background worker has uploaded it; reload the page to see the result."
    ]
    assert "Pending" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_task_uploads_the_record_and_is_safe_to_run_twice(admin_client, wxpay_settings, on_workers):
    admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(2))})
    [pk] = enqueued_pks(on_workers)

    first = tasks.upload_feedback_image.call(pk)
    second = tasks.upload_feedback_image.call(pk)

    image = FeedbackImage.objects.get(pk=pk)
    assert image.status == Status.UPLOADED
    [sent] = wxpay_settings.uploads  # one request, though the task ran twice
    assert image.media_id == sent.media_id
    assert first == {"image": pk, "state": "sent", "media_id": image.media_id, "error_code": ""}
    assert second["state"] == "reused"


@pytest.mark.django_db(transaction=True)
def test_the_task_records_a_failure_without_failing(admin_client, wxpay_settings, on_workers):
    admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(3))})
    [pk] = enqueued_pks(on_workers)
    wxpay_settings.add_fault("status", status=400, code="PARAM_ERROR", message="参数错误")

    result = tasks.upload_feedback_image.call(pk)

    assert result["state"] == "failed" and result["error_code"] == "PARAM_ERROR"
    image = FeedbackImage.objects.get(pk=pk)
    assert (image.status, image.error_code) == (Status.FAILED, "PARAM_ERROR")  # the file is kept for a retry
    assert image.file and conf.get_storage().exists(image.file.name)


def test_the_task_for_a_deleted_record_is_gone(wxpay_settings, on_workers):
    image = pending_image(wxpay_settings, 4)
    pk = image.pk
    image.delete()

    assert tasks.upload_feedback_image.call(pk)["state"] == "gone"
    assert services.upload_queued(pk).state is UploadState.GONE
    assert wxpay_settings.uploads == []


def test_add_view_is_in_chinese_for_chinese_staff(admin_client, wxpay_settings, on_workers):
    response = admin_client.post(
        reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(5))}, HTTP_ACCEPT_LANGUAGE="zh-hans", follow=True
    )

    [message] = messages_of(response)
    assert (
        message
        == "“a.png”已保存，正在排队等待上传到微信支付。后台任务上传完成之前，它的状态为“待上传”；请刷新页面查看结果。"
    )


@pytest.mark.django_db(transaction=True)
def test_without_the_setting_the_add_view_uploads_in_the_request(admin_client, wxpay_settings, settings):
    settings.TASKS = {"default": {"BACKEND": DUMMY}}
    task_backends()["default"].clear()

    admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(6))})

    assert FeedbackImage.objects.get().status == Status.UPLOADED
    assert len(wxpay_settings.uploads) == 1
    assert task_backends()["default"].results == []


@pytest.mark.django_db(transaction=True)
def test_the_immediate_backend_uploads_in_the_request(admin_client, wxpay_settings, settings):
    settings.TASKS = {"default": {"BACKEND": IMMEDIATE}}
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "BACKGROUND_UPLOADS": "default"}

    admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(7))})

    assert FeedbackImage.objects.get().status == Status.UPLOADED
    assert len(wxpay_settings.uploads) == 1


@pytest.mark.django_db(transaction=True)
def test_a_backend_that_cannot_take_the_task_falls_back_to_uploading_now(
    admin_client, wxpay_settings, settings, caplog
):
    settings.TASKS = {"default": {"BACKEND": DUMMY}}
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "BACKGROUND_UPLOADS": "missing"}  # no such TASKS entry

    with caplog.at_level(logging.ERROR, logger="django_wxpay_media"):
        response = admin_client.post(reverse(ADD), {"upload": SimpleUploadedFile("a.png", png_bytes(8))}, follow=True)

    assert FeedbackImage.objects.get().status == Status.UPLOADED  # not lost, not left pending
    assert len(wxpay_settings.uploads) == 1
    assert "was uploaded to WeChat Pay" in messages_of(response)[0]
    assert "Cannot enqueue the upload" in caplog.text


# -- the action ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_action_enqueues_pending_and_failed_and_skips_uploaded(admin_client, wxpay_settings, on_workers):
    pending = pending_image(wxpay_settings, 20)
    failed = failed_image(wxpay_settings, 21)
    done = services.upload_image(png_bytes(22), filename="done.png")
    wxpay_settings.reset()

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "upload_selected", "_selected_action": [pending.pk, failed.pk, done.pk]},
        follow=True,
    )

    assert messages_of(response) == [
        "1 image was skipped: it is already uploaded.",
        "2 images were queued for upload to WeChat Pay; they show as “Pending” until a background worker "
        "has uploaded them.",
    ]
    assert sorted(enqueued_pks(on_workers)) == sorted([pending.pk, failed.pk])
    assert wxpay_settings.uploads == []


# -- the form fields: after the commit only --------------------------------------------------


def test_form_fields_enqueue_after_the_admin_transaction_commits(
    admin_client, wxpay_settings, on_workers, django_capture_on_commit_callbacks
):
    files = [SimpleUploadedFile("r1.png", png("r1")), SimpleUploadedFile("r2.png", png("r2"))]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(reverse(REPLY_ADD), {"complaint_id": "7", "content": "c", "new_images": files})
        assert response.status_code == 302
        assert on_workers.results == []  # not before the commit: the worker could not see the records

    for callback in callbacks:
        callback()

    images = FeedbackImage.objects.order_by("pk")
    assert sorted(enqueued_pks(on_workers)) == [image.pk for image in images]
    assert [image.status for image in images] == [Status.PENDING, Status.PENDING]
    assert wxpay_settings.uploads == []


def test_nothing_is_enqueued_when_the_transaction_rolls_back(
    wxpay_settings, on_workers, django_capture_on_commit_callbacks
):
    done = []
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                stored = services.store(png("rolled back"), filename="x.png")
                services.upload_stored([stored], on_done=done.append)
                raise RuntimeError("the view failed")
        except RuntimeError:
            pass

    assert callbacks == []
    assert on_workers.results == []
    assert done == []
    assert wxpay_settings.uploads == []


def test_on_done_gets_the_queued_outcomes_once_enqueued(wxpay_settings, on_workers, django_capture_on_commit_callbacks):
    done = []
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        stored = services.store(png("on done"), filename="x.png")
        returned = services.upload_stored([stored], on_done=done.append)
        assert done == []

    [[outcome]] = done
    assert outcome.state is UploadState.QUEUED and returned == [outcome]
    assert enqueued_pks(on_workers) == [outcome.record.pk]


@pytest.mark.django_db(transaction=True)  # no test transaction around it: a plain view
def test_a_form_outside_a_transaction_is_valid_with_queued_images(wxpay_settings, on_workers):
    from django import forms

    from django_wxpay_media.forms import FeedbackImageFormMixin, FeedbackImagesField

    class ReplyForm(FeedbackImageFormMixin, forms.Form):
        images = FeedbackImagesField()

    form = ReplyForm(files={"images": [SimpleUploadedFile("f.png", png("form"))]})
    told = []
    assert form.is_valid(), form.errors  # queued is not an error
    form.on_uploads_done(told.append)

    [record] = form.cleaned_data["images"]
    assert record.status == Status.PENDING
    assert [o.state for o in told[0]] == [UploadState.QUEUED]
    assert enqueued_pks(on_workers) == [record.pk]


# -- re-driving ------------------------------------------------------------------------------


def test_redrive_uploads_finishes_pending_and_failed_records(wxpay_settings, on_workers):
    pending = pending_image(wxpay_settings, 30)
    failed = failed_image(wxpay_settings, 31)
    wxpay_settings.reset()

    counts = tasks.redrive_uploads.call()

    assert counts == {"sent": 2}
    for image in (pending, failed):
        image.refresh_from_db()
        assert image.status == Status.UPLOADED
    assert tasks.redrive_uploads.call() == {}  # nothing left; safe to schedule often


def test_redrive_uploads_can_be_enqueued(wxpay_settings, on_workers):
    result = tasks.redrive_uploads.using(backend="default").enqueue()
    assert [r.task.name for r in on_workers.results] == ["redrive_uploads"]
    assert result.args == []


# -- checks ----------------------------------------------------------------------------------


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_check_quiet_when_off_or_on_a_worker_backend(settings, wxpay_settings):
    settings.TASKS = {"default": {"BACKEND": DUMMY}, "workers": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    pytest.importorskip("django_tasks_db")
    assert check_background_uploads() == []
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "BACKGROUND_UPLOADS": "workers"}
    assert check_background_uploads() == []


def test_check_e028_for_an_alias_not_in_tasks(settings, wxpay_settings):
    settings.TASKS = {"default": {"BACKEND": DUMMY}}
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "BACKGROUND_UPLOADS": "rq"}
    [error] = check_background_uploads()
    assert error.id == "django_wxpay_media.E028" and "'rq'" in error.msg


def test_check_e028_for_a_backend_that_cannot_be_loaded(settings, wxpay_settings):
    settings.TASKS = {"default": {"BACKEND": "no.such.Backend"}}
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "BACKGROUND_UPLOADS": True}
    assert ids(check_background_uploads()) == ["django_wxpay_media.E028"]


def test_check_e028_without_a_task_framework(settings, wxpay_settings, monkeypatch):
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "BACKGROUND_UPLOADS": True}
    monkeypatch.setitem(sys.modules, "django.tasks", None)  # find_spec() answers None: not installed
    monkeypatch.setitem(sys.modules, "django_tasks", None)
    [error] = check_background_uploads()
    assert error.id == "django_wxpay_media.E028" and "no task framework" in error.msg


@pytest.mark.parametrize("backend", [DUMMY, IMMEDIATE])
def test_check_w003_for_backends_that_are_no_worker(settings, wxpay_settings, backend):
    settings.TASKS = {"default": {"BACKEND": backend}}
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "BACKGROUND_UPLOADS": True}
    assert ids(check_background_uploads()) == ["django_wxpay_media.W003"]


def test_registered_checks_include_it(settings, wxpay_settings):
    settings.TASKS = {"default": {"BACKEND": DUMMY}}
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "BACKGROUND_UPLOADS": "rq"}
    assert "django_wxpay_media.E028" in ids(run_checks(tags=["django_wxpay_media"]))


@fuzz(60)
@given(
    value=st.one_of(
        st.booleans(), st.text(max_size=12), st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2)
    )
)
def test_any_value_is_accepted_or_e027_and_checks_and_conf_agree(settings, wxpay_settings, value):
    settings.TASKS = {"default": {"BACKEND": DUMMY}}
    settings.WXPAY_MEDIA = {**wxpay_settings.settings(), "BACKGROUND_UPLOADS": value}

    reported = ids(check_settings()) + ids(check_background_uploads())  # never raises

    valid = value is None or isinstance(value, bool) or (isinstance(value, str) and value != "")
    assert ("django_wxpay_media.E027" in reported) is not valid
    if valid:
        backend = conf.background_uploads_backend()
        assert backend == (None if value in (None, False) else "default" if value is True else value)
    else:
        with pytest.raises(Exception, match="BACKGROUND_UPLOADS"):
            conf.background_uploads_backend()


# -- how the services find the tasks -----------------------------------------------------------


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
def test_the_app_loads_the_tasks_at_startup_only_when_uploads_go_to_workers(settings, wxpay_settings, monkeypatch, on):
    """The services never import the tasks: the app loads them (they hand themselves over)."""
    from django.apps import apps

    import django_wxpay_media
    from django_wxpay_media.services import api

    settings.TASKS = {"default": {"BACKEND": DUMMY}}
    settings.WXPAY_MEDIA = {**settings.WXPAY_MEDIA, "BACKGROUND_UPLOADS": on}
    monkeypatch.delitem(sys.modules, "django_wxpay_media.tasks")  # as in a fresh process
    monkeypatch.delattr(django_wxpay_media, "tasks")
    monkeypatch.setattr(api, "_enqueue", None)

    apps.get_app_config("django_wxpay_media").ready()

    assert ("django_wxpay_media.tasks" in sys.modules) is on
    assert (api._enqueue is not None) is on
