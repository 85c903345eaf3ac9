from django.urls import re_path

from backend import streams, views

# Existing clients call these with and without a trailing slash.
urlpatterns = [
    re_path(r"^upload_and_extract_features/?$", views.UploadAndExtractFeatures.as_view(), name="backend-upload"),
    re_path(r"^features/?$", views.FeatureList.as_view(), name="backend-features"),
    # Anything after features/ reaches the view, so a name with a path in it ("a%2Fb", "../x") is
    # answered 400 naming the field rather than an HTML 404 from the resolver.
    re_path(r"^features/(?P<filename>.+?)/?$", views.FeatureDetail.as_view(), name="backend-feature"),
    re_path(r"^build_task_dataset/?$", views.BuildTaskDataset.as_view(), name="backend-build"),
    re_path(r"^datasets/?$", views.DatasetList.as_view(), name="backend-datasets"),
    re_path(r"^train_task_model/?$", views.TrainTaskModel.as_view(), name="backend-train"),
    re_path(r"^models/?$", views.ModelList.as_view(), name="backend-models"),
    re_path(r"^stream_pose/?$", streams.stream_pose, name="backend-stream-pose"),
    re_path(r"^stop_webcam/?$", streams.StopWebcam.as_view(), name="backend-stop-webcam"),
]
