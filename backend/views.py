"""The /backend/ endpoints existing clients call, with their form fields and response keys.

Each POST starts a job and waits for it up to TASKML_BACKEND_WAIT_SECONDS; a job still
running then is answered 202 with its URL. Names in requests resolve only to the caller's
own objects (staff: anyone's); paths are never accepted. The contract is described in the
OpenAPI schema under the tag "backend (compatibility contract)" (backend/schema.py).
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from backend import forms, schema
from datasets.selectors import dataset_by_name, dataset_list
from datasets.services import DATASET_DEFAULTS, dataset_params_check, dataset_request
from jobs.models import Job
from jobs.services import job_wait
from models_app.selectors import trained_model_list
from models_app.services import trained_model_request
from taskml.admission import admission_release
from taskml.api_errors import alert
from taskml.domain import TooLarge, ValidationFailed
from taskml.pipeline.dataset import DATASET_PARAMS, RATIO_PARAMS
from taskml.pipeline.estimators import MODEL_PARAMS
from taskml.pipeline.params import SAMPLE_RATE, SEED
from taskml.pipeline.training import CV_FOLDS
from videos.selectors import feature_file_get, feature_file_list
from videos.services import extraction_params_check, feature_file_request, video_create
from videos.uploads import upload_limit_mb


def _mb(size: int) -> float:
    return round(size / (1024 * 1024), 3)


def _created(obj) -> str:
    return obj.created_at.isoformat(timespec="seconds")


class BackendView(APIView):
    error_style = "backend"
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def job_answer(self, request, job: Job, success: dict, pending: dict) -> Response:
        """Wait for ``job``; answer its result, its error, or 202 with where to follow it."""
        admission_release(request)  # an upload is stored by now: waiting for its job holds no place
        job = job_wait(job=job, timeout=settings.TASKML_BACKEND_WAIT_SECONDS)
        url = request.build_absolute_uri(reverse("job-detail", args=[job.pk]))
        if job.status == Job.Status.SUCCEEDED:
            return Response({**success(), "job_id": job.pk, "job_url": url})
        if job.status in (Job.Status.FAILED, Job.Status.CANCELLED):
            code = {"input": 400, "too_large": 413}.get(
                job.error_kind, 409 if job.status == Job.Status.CANCELLED else 500
            )
            response = alert(job.error or job.status, code)
            response.data.update({"job_id": job.pk, "job_url": url})
            return response
        return Response(
            {
                **pending,
                "status": job.status,
                "stage": job.stage,
                "progress": job.progress,
                "job_id": job.pk,
                "job_url": url,
            },
            status=202,
            headers={"Location": url},
        )


class UploadAndExtractFeatures(BackendView):
    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = "uploads"  # TASKML_THROTTLE_UPLOADS per user

    @schema.upload_schema
    def post(self, request):
        data, files = forms.fields(request), request.FILES
        too_large = getattr(request._request, "upload_too_large", None)
        if too_large:
            raise TooLarge(too_large, f"the upload is larger than the limit of {upload_limit_mb()} MB")
        detector = forms.text(data, "detector_type", "fusion")
        sample_rate = forms.param(data, SAMPLE_RATE, SAMPLE_RATE.default)
        labels_upload = files.get("labels_csv")
        if labels_upload is None and forms.text(data, "labels_csv"):
            raise ValidationFailed("labels_csv", "send the labels as a file upload (multipart), not as text")
        extraction_params_check(detector=detector, sample_rate=sample_rate)  # before the video is stored
        video = video_create(
            owner=request.user,
            upload=files.get("video"),
            video_id=forms.text(data, "video_id"),
            labels_upload=labels_upload,
        )
        feature_file = feature_file_request(owner=request.user, video=video, detector=detector, sample_rate=sample_rate)

        def success() -> dict:
            feature_file.refresh_from_db()
            return {
                "status": "success",
                "feature_file": feature_file.filename,
                "video_id": video.video_id,
                "num_frames": feature_file.num_frames,
                "num_labeled": feature_file.num_labeled,
                "columns": feature_file.columns,
                "video_file": video.stored_name,
            }

        pending = {"feature_file": feature_file.filename, "video_id": video.video_id, "video_file": video.stored_name}
        return self.job_answer(request, feature_file.job, success, pending)


class FeatureList(BackendView):
    @schema.features_schema
    def get(self, request):
        files = feature_file_list(user=request.user, ready_only=True)
        return Response(
            {
                "features": [
                    {"filename": f.filename, "path": f.path, "size_mb": _mb(f.size_bytes), "created": _created(f)}
                    for f in files
                ]
            }
        )


class FeatureDetail(BackendView):
    @schema.feature_schema
    def get(self, request, filename: str):
        f = feature_file_get(user=request.user, filename=filename)
        return Response(
            {
                "filename": f.filename,
                "num_frames": f.num_frames,
                "columns": f.columns,
                "video_id": f.video.video_id,
                "has_labels": f.num_labeled > 0,
                "label_distribution": f.label_distribution,
                "status": f.status,
            }
        )


class BuildTaskDataset(BackendView):
    @schema.build_schema
    def post(self, request):
        data = forms.fields(request)
        names = [n.strip() for n in (forms.text(data, "feature_files", "") or "").split(",") if n.strip()]
        if not names:
            raise ValidationFailed("feature_files", "give a comma-separated list of feature file names")
        feature_files = [feature_file_get(user=request.user, filename=n, field="feature_files") for n in names]
        params = dataset_params_check(
            window_sec=forms.param(data, DATASET_PARAMS["window_sec"], DATASET_DEFAULTS["window_sec"]),
            step_sec=forms.param(data, DATASET_PARAMS["step_sec"], DATASET_DEFAULTS["step_sec"]),
            balance_method=forms.text(data, "balance_method", DATASET_DEFAULTS["balance_method"]),
            ratios=tuple(
                forms.param(data, DATASET_PARAMS[name], DATASET_PARAMS[name].default) for name in RATIO_PARAMS
            ),
            seed=forms.param(data, SEED, SEED.default),
        )
        dataset = dataset_request(owner=request.user, feature_files=feature_files, params=params)

        def success() -> dict:
            dataset.refresh_from_db()
            return {
                "status": "success",
                "dataset_dir": dataset.name,
                "dataset_id": dataset.pk,
                "train_size": dataset.train_size,
                "val_size": dataset.val_size,
                "test_size": dataset.test_size,
                "labels": dataset.labels,
                "num_features": dataset.num_features,
            }

        return self.job_answer(request, dataset.job, success, {"dataset_dir": dataset.name, "dataset_id": dataset.pk})


class DatasetList(BackendView):
    @schema.datasets_schema
    def get(self, request):
        return Response(
            {
                "datasets": [
                    {
                        "dataset_dir": d.name,
                        "dataset_id": d.pk,
                        "path": d.path,
                        "created": _created(d),
                        "size_mb": _mb(d.size_bytes),
                        "train_size": d.train_size,
                        "val_size": d.val_size,
                        "test_size": d.test_size,
                        "labels": d.labels,
                        "num_features": d.num_features,
                        "window_sec": d.window_sec,
                        "step_sec": d.step_sec,
                    }
                    for d in dataset_list(user=request.user, ready_only=True)
                ]
            }
        )


class TrainTaskModel(BackendView):
    @schema.train_schema
    def post(self, request):
        data = forms.fields(request)
        dataset = dataset_by_name(user=request.user, name=forms.text(data, "dataset_dir", "") or "")
        model = trained_model_request(
            owner=request.user,
            dataset=dataset,
            model_type=forms.text(data, "model_type", None),  # neither given: the pipeline's default config
            aggregation=forms.text(data, "aggregation", None),
            params={name: forms.param(data, param) for name, param in MODEL_PARAMS.items()},
            seed=forms.param(data, SEED, SEED.default),
            cv=forms.param(data, CV_FOLDS, 0),
        )

        def success() -> dict:
            model.refresh_from_db()
            return {
                "status": "success",
                "model_path": model.filename,
                "model_id": model.pk,
                "model_type": model.model_type,
                "metrics": model.metrics,
                "version": model.version,
            }

        pending = {"model_path": model.filename, "model_id": model.pk, "model_type": model.model_type}
        return self.job_answer(request, model.job, success, pending)


class ModelList(BackendView):
    @schema.models_schema
    def get(self, request):
        return Response(
            {
                "models": [
                    {
                        "filename": m.filename,
                        "path": m.path,
                        "size_mb": _mb(m.size_bytes),
                        "created": _created(m),
                        "accuracy": m.accuracy,
                        "f1_macro": m.f1_macro,
                        "model_id": m.pk,
                        "model_type": m.model_type,
                        "dataset_dir": m.dataset.name,
                        "version": m.version,
                    }
                    for m in trained_model_list(user=request.user, ready_only=True)
                ]
            }
        )
