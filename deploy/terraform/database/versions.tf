# A root module of its own: privileges inside PostgreSQL, applied after ../ through the
# bastion (../README.md, "Database privileges"). Kept apart so that plans of ../ (CI's
# among them) never need a connection into the private network.
terraform {
  required_version = "~> 1.11"

  required_providers {
    postgresql = {
      source  = "cyrilgdn/postgresql"
      version = "~> 1.25"
    }
  }

  # Same bucket as ../ (-backend-config=../environments/<env>.gcs.tfbackend), own prefix.
  backend "gcs" {
    prefix = "meltano/database"
  }
}

variable "terraform_state_bucket" {
  description = "Bucket of this environment's Terraform state (../environments/<env>.gcs.tfbackend): the users are read from ../'s outputs there."
  type        = string
}

# What ../ made in the same workspace (environment.tf guards that it is this environment).
data "terraform_remote_state" "platform" {
  backend   = "gcs"
  workspace = terraform.workspace
  config = {
    bucket = var.terraform_state_bucket
    prefix = "meltano/state"
  }
}

# The Cloud SQL Auth Proxy on the bastion, reached through an SSH tunnel from
# 127.0.0.1:15432. It logs in as the bastion's service account (IAM authentication, no
# password) and encrypts the connection to the instance; this hop is the tunnel.
provider "postgresql" {
  host      = "127.0.0.1"
  port      = 15432
  database  = "postgres"
  username  = data.terraform_remote_state.platform.outputs.database_admin_user
  sslmode   = "disable"
  superuser = false # Cloud SQL has no superuser; its admin role is cloudsqlsuperuser
}
