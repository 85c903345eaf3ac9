"""The pages. Thin: they check who may see what and render a template; the page's script then
talks to /api/v1/ and the websockets like any other client."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from datasets.selectors import dataset_get
from models_app.selectors import trained_model_get
from taskml.domain import NotFound
from videos.selectors import video_get, video_list


def _or_404(load):
    from django.http import Http404

    try:
        return load()
    except NotFound as exc:
        raise Http404(str(exc)) from None


@login_required
def videos(request):
    return render(request, "web/videos.html", {"page": "videos"})


@login_required
def video(request, pk: int):
    item = _or_404(lambda: video_get(user=request.user, pk=pk))
    return render(request, "web/video.html", {"page": "videos", "video": item})


@login_required
def datasets(request):
    return render(request, "web/datasets.html", {"page": "datasets"})


@login_required
def dataset(request, pk: int):
    item = _or_404(lambda: dataset_get(user=request.user, pk=pk))
    return render(request, "web/dataset.html", {"page": "datasets", "dataset": item})


@login_required
def models(request):
    return render(request, "web/models.html", {"page": "models"})


@login_required
def model(request, pk: int):
    item = _or_404(lambda: trained_model_get(user=request.user, pk=pk))
    videos = video_list(user=request.user).filter(owner=item.owner).order_by("video_id")[:500]
    return render(request, "web/model.html", {"page": "models", "model": item, "videos": videos})


@login_required
def live(request):
    return render(request, "web/live.html", {"page": "live"})


@login_required
def retraining(request):
    return render(request, "web/retraining.html", {"page": "retraining"})
