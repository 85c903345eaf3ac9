from django.urls import re_path

from backend import views

# Existing clients call these with and without a trailing slash.
urlpatterns = [
    re_path(r"^upload_and_extract_features/?$", views.UploadAndExtractFeatures.as_view(), name="backend-upload"),
    re_path(r"^features/?$", views.FeatureList.as_view(), name="backend-features"),
    re_path(r"^features/(?P<filename>[^/]+)/?$", views.FeatureDetail.as_view(), name="backend-feature"),
    re_path(r"^build_task_dataset/?$", views.BuildTaskDataset.as_view(), name="backend-build"),
    re_path(r"^datasets/?$", views.DatasetList.as_view(), name="backend-datasets"),
    re_path(r"^train_task_model/?$", views.TrainTaskModel.as_view(), name="backend-train"),
    re_path(r"^models/?$", views.ModelList.as_view(), name="backend-models"),
]
