# The release pipeline's identity (.gitlab-ci.yml): GitLab's OIDC ID token of a pipeline
# of this project on a protected branch or tag, exchanged through this pool for the
# release service account. No service account key exists anywhere.

resource "google_iam_workload_identity_pool" "gitlab" {
  workload_identity_pool_id = "gitlab${local.suffix}"
  display_name              = "GitLab CI${local.suffix}"
  description               = "Pipelines of ${var.gitlab_project_path} on protected refs"

  depends_on = [google_project_service.apis]
}

resource "google_iam_workload_identity_pool_provider" "gitlab" {
  workload_identity_pool_id          = google_iam_workload_identity_pool.gitlab.workload_identity_pool_id
  workload_identity_pool_provider_id = "gitlab"
  display_name                       = "GitLab"
  attribute_mapping = {
    "google.subject"          = "assertion.sub"
    "attribute.project_path"  = "assertion.project_path"
    "attribute.ref_protected" = "assertion.ref_protected"
  }
  # Only this project's pipelines, and only on protected refs (tags and main): a merge
  # request's pipeline gets no Google access at all.
  attribute_condition = "assertion.project_path == \"${var.gitlab_project_path}\" && assertion.ref_protected == \"true\""
  oidc {
    issuer_uri = var.gitlab_url
    # No allowed_audiences: the token's aud must then be this provider's own resource
    # name, which .gitlab-ci.yml's id_tokens sets (https://iam.googleapis.com/…).
  }
}

resource "google_service_account" "release" {
  account_id   = "meltano-release${local.suffix}"
  display_name = "data-ops-meltano${local.suffix} release pipeline (GitLab CI)"

  depends_on = [google_project_service.apis]
}

resource "google_service_account_iam_member" "release_workload_identity" {
  service_account_id = google_service_account.release.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.gitlab.name}/attribute.project_path/${var.gitlab_project_path}"
}

# build-image: push the image to this environment's repository — this environment's
# release account, and the image_pushers (production: staging's release account, which
# the tag pipeline's build job runs as, pushing one build to both repositories).
resource "google_artifact_registry_repository_iam_member" "release_push" {
  for_each = toset(concat([google_service_account.release.member], var.image_pushers))

  project    = google_artifact_registry_repository.images.project
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = each.value
}

# deploy-*: `dataops deploy` (kubectl apply of the overlay, rollout status); terraform-*:
# a plan reads what it manages (read-only roles, no basic Viewer role).
resource "google_project_iam_member" "release" {
  for_each = toset([
    "roles/container.developer",
    # Records the attestations of a release's images (binary_authorization.tf); there
    # is no narrower place to grant it than the project.
    "roles/containeranalysis.occurrences.editor",
    "roles/container.clusterViewer",
    "roles/cloudsql.viewer",
    "roles/compute.networkViewer",
    "roles/iam.securityReviewer",
    "roles/serviceusage.serviceUsageViewer",
  ])

  project = var.project_id
  role    = each.value
  member  = google_service_account.release.member
}

# terraform-plan: read the state and take its lock (objects in the state bucket only).
resource "google_storage_bucket_iam_member" "release_state" {
  bucket = var.terraform_state_bucket
  role   = "roles/storage.objectUser"
  member = google_service_account.release.member
}
