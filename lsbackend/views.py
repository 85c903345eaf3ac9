"""/ls-backend/<model id>/… and /ls-backend/policy/<policy id>/…: the Label Studio ML backend
protocol (health, setup, predict, webhook; versions, validate and train as Label Studio calls them).

Thin: authenticate (Basic user name + API token, or ``Authorization: Token``), resolve the model,
call one service, answer JSON.
"""

from __future__ import annotations

from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from lsbackend.authentication import BasicTokenAuthentication
from lsbackend.services import ls_import_annotation, ls_predict, ls_start_training
from models_app.predictions import model_version_name
from models_app.selectors import trained_model_get
from retraining.selectors import retrain_policy_get
from taskml.domain import Conflict, ValidationFailed
from taskml.throttles import ThrottledTokenAuthentication

ANNOTATION_EVENTS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")


class MLBackendView(APIView):
    authentication_classes = [ThrottledTokenAuthentication, BasicTokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = []
    schema = None  # Label Studio's protocol, not part of the /api/v1/ schema
    operation = ""

    def target(self, kwargs):
        """(model, policy) this backend URL serves; the policy's champion for /policy/<id>/."""
        if "policy_id" in kwargs:
            policy = retrain_policy_get(user=self.request.user, pk=int(kwargs["policy_id"]))
            if policy.champion is None:
                raise Conflict("policy", f"{policy.name} has no champion yet; run it first")
            return policy.champion, policy
        return trained_model_get(user=self.request.user, pk=int(kwargs["model_id"])), None

    def get(self, request, **kwargs):
        model, _ = self.target(kwargs)
        if self.operation == "health":
            return Response({"status": "UP", "model_class": "taskml", "model_version": model_version_name(model)})
        if self.operation == "versions":
            return Response({"versions": [model_version_name(model)]})
        return Response({"detail": f"GET is not allowed on {self.operation}"}, status=405)

    def post(self, request, **kwargs):
        model, policy = self.target(kwargs)
        body = request.data if isinstance(request.data, dict) else {}
        if self.operation == "setup":
            return Response({"model_version": model_version_name(model)})
        if self.operation == "validate":
            return Response({"status": "ok"})
        if self.operation == "predict":
            tasks = body.get("tasks")
            if not isinstance(tasks, list):
                raise ValidationFailed("tasks", "a list of Label Studio tasks is required")
            return Response(
                ls_predict(user=request.user, model=model, tasks=tasks, label_config=body.get("label_config"))
            )
        if self.operation == "train":
            return Response(ls_start_training(policy=policy))
        # webhook
        action = body.get("action")
        project = body.get("project") if isinstance(body.get("project"), dict) else {}
        if action in ANNOTATION_EVENTS:
            task, annotation = body.get("task"), body.get("annotation")
            if not isinstance(task, dict) or not isinstance(annotation, dict):
                raise ValidationFailed("annotation", f"{action} needs task and annotation objects")
            report = ls_import_annotation(
                user=request.user, task=task, annotation=annotation, label_config=project.get("label_config")
            )
            return Response({"status": "imported", "report": report})
        if action == "START_TRAINING":
            return Response(ls_start_training(policy=policy))
        return Response({"status": "ignored", "action": action})

    def put(self, request, **kwargs):
        return Response({"detail": "method not allowed"}, status=405)

    delete = patch = put
