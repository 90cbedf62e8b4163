# Service accounts: one for the nodes, one for the workloads (Workload Identity).

resource "google_service_account" "nodes" {
  account_id   = "meltano-nodes${local.suffix}"
  display_name = "GKE nodes of data-ops-meltano${local.suffix}"

  depends_on = [google_project_service.apis]
}

# Logging and monitoring writers only (instead of the default compute account's Editor).
resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/stackdriver.resourceMetadata.writer",
  ])

  project = var.project_id
  role    = each.value
  member  = google_service_account.nodes.member
}

# The nodes pull the project's image: read access to that one repository.
resource "google_artifact_registry_repository_iam_member" "nodes_pull" {
  project    = var.image_repository.project
  location   = var.image_repository.location
  repository = var.image_repository.name
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.nodes.member
}

resource "google_service_account" "runtime" {
  account_id   = "meltano-runtime${local.suffix}"
  display_name = "data-ops-meltano${local.suffix} workloads (scheduler, syncs, Airflow API server)"

  depends_on = [google_project_service.apis]
}

# Connect through the Cloud SQL Auth Proxy and log in as an IAM database user.
resource "google_project_iam_member" "runtime" {
  for_each = toset([
    "roles/cloudsql.client",
    "roles/cloudsql.instanceUser",
  ])

  project = var.project_id
  role    = each.value
  member  = google_service_account.runtime.member
}

locals {
  # Contract with deploy/kubernetes: the namespace and the service accounts whose pods
  # run a cloud-sql-proxy sidecar.
  kubernetes_namespace = "meltano"
  kubernetes_service_accounts = toset([
    "meltano-scheduler",
    "meltano-sync",
    "airflow-api-server",
  ])
}

resource "google_service_account_iam_member" "runtime_workload_identity" {
  for_each = local.kubernetes_service_accounts

  service_account_id = google_service_account.runtime.name
  role               = "roles/iam.workloadIdentityUser"
  # Taken from the cluster so the binding waits for the pool to exist.
  member = "serviceAccount:${google_container_cluster.meltano.workload_identity_config[0].workload_pool}[${local.kubernetes_namespace}/${each.value}]"
}
