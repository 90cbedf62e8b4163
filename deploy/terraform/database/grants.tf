# Each workload's privileges, database by database. The users and the databases are
# made by ../sql.tf; Airflow's tables are created by its migrations, run as the
# scheduler (which so owns them), Meltano's and the run ledger's by the syncs.
#
#   airflow  scheduler   owner: CONNECT, TEMPORARY; CREATE in schema public
#            api server  CONNECT; read and write the scheduler's tables and sequences
#   meltano  sync        owner: CONNECT, TEMPORARY; CREATE in schema public
#            scheduler   CONNECT; SELECT and INSERT on the syncs' tables: the hourly
#                        watchdog reads Meltano's runs and the ledger and records the
#                        alerts it posted (dataops_alerts); it cannot change or delete
#                        a row, nor create or drop a table
#
# No other role connects: PostgreSQL's default CONNECT and TEMPORARY for PUBLIC is
# revoked on both databases.

locals {
  users      = data.terraform_remote_state.platform.outputs.database_users
  scheduler  = local.users["meltano-scheduler"]
  api_server = local.users["airflow-api-server"]
  sync       = local.users["meltano-sync"]

  databases = toset(["airflow", "meltano"])

  connect = {
    "airflow meltano-scheduler"  = { database = "airflow", role = local.scheduler, privileges = ["CONNECT", "TEMPORARY"] }
    "airflow airflow-api-server" = { database = "airflow", role = local.api_server, privileges = ["CONNECT"] }
    "meltano meltano-sync"       = { database = "meltano", role = local.sync, privileges = ["CONNECT", "TEMPORARY"] }
    "meltano meltano-scheduler"  = { database = "meltano", role = local.scheduler, privileges = ["CONNECT"] }
  }

  schema_public = {
    "airflow meltano-scheduler"  = { database = "airflow", role = local.scheduler, privileges = ["CREATE", "USAGE"] }
    "airflow airflow-api-server" = { database = "airflow", role = local.api_server, privileges = ["USAGE"] }
    "meltano meltano-sync"       = { database = "meltano", role = local.sync, privileges = ["CREATE", "USAGE"] }
    "meltano meltano-scheduler"  = { database = "meltano", role = local.scheduler, privileges = ["USAGE"] }
  }

  # Rights on another workload's objects in schema public: on those that exist now and,
  # through default privileges, on those its migrations create later.
  objects = {
    "airflow tables airflow-api-server" = {
      database    = "airflow"
      owner       = local.scheduler
      role        = local.api_server
      object_type = "table"
      privileges  = ["DELETE", "INSERT", "SELECT", "UPDATE"]
    }
    "airflow sequences airflow-api-server" = {
      database    = "airflow"
      owner       = local.scheduler
      role        = local.api_server
      object_type = "sequence"
      privileges  = ["SELECT", "UPDATE", "USAGE"]
    }
    "meltano tables meltano-scheduler" = {
      database    = "meltano"
      owner       = local.sync
      role        = local.scheduler
      object_type = "table"
      privileges  = ["INSERT", "SELECT"]
    }
  }
}

resource "postgresql_grant" "no_public_connect" {
  for_each = local.databases

  database    = each.value
  role        = "public"
  object_type = "database"
  privileges  = []
}

resource "postgresql_grant" "connect" {
  for_each = local.connect

  database    = each.value.database
  role        = each.value.role
  object_type = "database"
  privileges  = each.value.privileges
}

resource "postgresql_grant" "schema_public" {
  for_each = local.schema_public

  database    = each.value.database
  role        = each.value.role
  schema      = "public"
  object_type = "schema"
  privileges  = each.value.privileges
}

resource "postgresql_grant" "existing_objects" {
  for_each = local.objects

  database    = each.value.database
  role        = each.value.role
  schema      = "public"
  object_type = each.value.object_type
  privileges  = each.value.privileges
}

resource "postgresql_default_privileges" "future_objects" {
  for_each = local.objects

  database    = each.value.database
  owner       = each.value.owner
  role        = each.value.role
  schema      = "public"
  object_type = each.value.object_type
  privileges  = each.value.privileges
}
