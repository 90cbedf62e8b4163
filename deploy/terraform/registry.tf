# The repository the project's image lives in. Tags are immutable: once `vX.Y.Z` or a
# commit's tag is pushed it always names the same image, which is what lets the
# manifests deploy by tag (deploy/kubernetes, CKV_K8S_43) and a rollback redeploy
# exactly what ran before.
resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84: the repository predates this module and is imported (README.md); a customer-managed key can only be set when a repository is created, so adding one would delete every released image. Google-managed encryption at rest applies.
  project       = var.image_repository.project
  location      = var.image_repository.location
  repository_id = var.image_repository.name
  description   = "data-ops-meltano${local.suffix} images (immutable tags)"
  format        = "DOCKER"

  docker_config {
    immutable_tags = true
  }

  depends_on = [google_project_service.apis]
}
