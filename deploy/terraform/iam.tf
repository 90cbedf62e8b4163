# Service accounts: one for the nodes, and one per workload (Workload Identity), each
# bound to exactly one Kubernetes service account and granted only what that workload
# uses. No key exists for any of them.

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

# The nodes pull the project's image: read access to that one repository (registry.tf).
resource "google_artifact_registry_repository_iam_member" "nodes_pull" {
  project    = google_artifact_registry_repository.images.project
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.nodes.member
}

locals {
  # Contract with deploy/kubernetes: the namespace and its service accounts. Each acts
  # as the Google service account of the same name (with this environment's suffix).
  kubernetes_namespace = "meltano"
  workloads = {
    "meltano-scheduler"  = "Airflow scheduler and DAG processor (starts the sync pods, runs the watchdog)"
    "airflow-api-server" = "Airflow API server (UI, the tasks' execution API)"
    "meltano-sync"       = "sync pods (meltano schedule run)"
  }

  # Cloud SQL roles exist at project level only: an IAM condition limits each grant to
  # this environment's instance.
  cloud_sql_instance_condition = "resource.type == \"sqladmin.googleapis.com/Instance\" && resource.name == \"projects/${var.project_id}/instances/${google_sql_database_instance.meltano.name}\""
  cloud_sql_roles = toset([
    "roles/cloudsql.client",       # connect through the Cloud SQL Auth Proxy
    "roles/cloudsql.instanceUser", # log in as an IAM database user
  ])
}

resource "google_service_account" "workload" {
  for_each = local.workloads

  account_id   = "${each.key}${local.suffix}"
  display_name = "data-ops-meltano${local.suffix}: ${each.value}"

  depends_on = [google_project_service.apis]
}

# Each Google service account trusts exactly one Kubernetes service account.
resource "google_service_account_iam_member" "workload_identity" {
  for_each = local.workloads

  service_account_id = google_service_account.workload[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  # Taken from the cluster so the binding waits for the pool to exist.
  member = "serviceAccount:${google_container_cluster.meltano.workload_identity_config[0].workload_pool}[${local.kubernetes_namespace}/${each.key}]"
}

# Every workload reaches the database through the proxy sidecar; what it may do in
# which database is granted inside PostgreSQL (database/, README.md).
resource "google_project_iam_member" "workload_cloud_sql" {
  for_each = {
    for pair in setproduct(keys(local.workloads), local.cloud_sql_roles) :
    "${pair[0]} ${pair[1]}" => { workload = pair[0], role = pair[1] }
  }

  project = var.project_id
  role    = each.value.role
  member  = google_service_account.workload[each.value.workload].member

  condition {
    title       = "instance-${google_sql_database_instance.meltano.name}"
    description = "Only the Cloud SQL instance of data-ops-meltano${local.suffix}"
    expression  = local.cloud_sql_instance_condition
  }
}
