# Cloud SQL PostgreSQL for Meltano's system database and Airflow's metadata database.
#
# Authentication: Cloud SQL IAM database authentication, no passwords anywhere (none in
# Terraform state, none in Kubernetes secrets). Each workload's service account is an
# IAM database user of its own; pods reach the instance through the Cloud SQL Auth Proxy
# sidecar with `--auto-iam-authn`, which logs in with the pod's Workload Identity token.
# Connection URIs name the user from the `database_users` output and carry no password.
# A new IAM database user has no rights in the databases: the root module in database/
# grants each one its database (README.md, "Database privileges"), logged in as the
# bastion's account (bastion.tf), the one user with Cloud SQL's admin role.

resource "google_sql_database_instance" "meltano" {
  # checkov:skip=CKV2_GCP_13: log_duration logs every statement's duration; Airflow's scheduler polls its database several times a second, so this would mostly log that polling. Slow queries show in Query Insights.
  # checkov:skip=CKV_GCP_110: pgAudit only audits after CREATE EXTENSION and pgaudit.log settings per database; the audit trail here is connection logging plus DDL statements (log_statement = ddl) and Cloud Audit Logs for the admin API.
  # checkov:skip=CKV_GCP_79: pinned to PostgreSQL 16, a major the runtime (Meltano's and Airflow's migrations over psycopg) is known to run on; moving to the newest major (18) is a deliberate in-place upgrade, tested first in staging.
  name             = "data-ops-meltano${local.suffix}"
  database_version = "POSTGRES_16"
  region           = var.region

  # Terraform refuses to destroy it; the API refuses deletion from anywhere else too.
  deletion_protection = local.is_production

  settings {
    edition           = "ENTERPRISE"
    tier              = var.sql_tier
    availability_type = var.sql_availability_type
    disk_type         = "PD_SSD"
    disk_autoresize   = true

    deletion_protection_enabled = local.is_production

    ip_configuration {
      ipv4_enabled    = false # private IP only
      private_network = google_compute_network.meltano.id
      # TLS with a client certificate: only the Auth Proxy (ephemeral certificates)
      # or a Cloud SQL connector can connect.
      ssl_mode = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
    }

    backup_configuration {
      enabled                        = true
      start_time                     = "10:00" # UTC, between the syncs
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = 7

      backup_retention_settings {
        retained_backups = var.sql_backup_retention_count
      }
    }

    maintenance_window {
      day          = 7 # Sunday 12:00 UTC, between the syncs like the cluster's window
      hour         = 12
      update_track = "stable"
    }

    insights_config {
      query_insights_enabled = true
    }

    database_flags {
      name  = "cloudsql.iam_authentication"
      value = "on"
    }

    # Connections, schema changes, lock waits and errors are logged; statements and
    # their durations are not (the scheduler's polling would flood the logs).
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }

    database_flags {
      name  = "log_connections"
      value = "on"
    }

    database_flags {
      name  = "log_disconnections"
      value = "on"
    }

    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }

    database_flags {
      name  = "log_hostname"
      value = "on"
    }

    database_flags {
      name  = "log_min_messages"
      value = "error"
    }

    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }

    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }

    database_flags {
      name  = "log_temp_files"
      value = "0"
    }

    database_flags {
      name  = "log_statement"
      value = "ddl"
    }

    user_labels = {
      app         = "data-ops-meltano"
      environment = var.environment
    }
  }

  depends_on = [google_service_networking_connection.private_services]
}

resource "google_sql_database" "meltano" {
  for_each = toset(["meltano", "airflow"])

  name     = each.value
  instance = google_sql_database_instance.meltano.name
  # The API cannot drop a database other users hold rights in; deleting the instance
  # removes it.
  deletion_policy = "ABANDON"
}

locals {
  # PostgreSQL IAM users are named by the account's email without its domain suffix.
  database_users = {
    for name, account in google_service_account.workload :
    name => trimsuffix(account.email, ".gserviceaccount.com")
  }
}

resource "google_sql_user" "workload" {
  for_each = local.database_users

  name     = each.value
  instance = google_sql_database_instance.meltano.name
  type     = "CLOUD_IAM_SERVICE_ACCOUNT"
  # Once granted SQL rights the user cannot be dropped through the API; the instance's
  # own deletion removes it.
  deletion_policy = "ABANDON"
}

# The database administrator: grants each workload its privileges (database/). Cloud
# SQL's admin role to manage the databases, and membership in the two users that own
# the tables (Airflow's migrations run as the scheduler, Meltano's as the syncs), which
# PostgreSQL requires to grant on their tables and set their default privileges.
resource "google_sql_user" "admin" {
  name     = trimsuffix(google_service_account.bastion.email, ".gserviceaccount.com")
  instance = google_sql_database_instance.meltano.name
  type     = "CLOUD_IAM_SERVICE_ACCOUNT"
  database_roles = [
    "cloudsqlsuperuser",
    google_sql_user.workload["meltano-scheduler"].name,
    google_sql_user.workload["meltano-sync"].name,
  ]
  deletion_policy = "ABANDON"
}
