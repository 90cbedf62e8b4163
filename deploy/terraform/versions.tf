terraform {
  required_version = "~> 1.11"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
  }

  # The bucket differs per environment and a backend takes no variables:
  #   terraform init -backend-config=environments/<env>.gcs.tfbackend
  # Each workspace's state lives at <prefix>/<workspace>.tfstate.
  backend "gcs" {
    prefix = "meltano/state"
  }
}

# .terraform.lock.hcl is not in git yet: the google provider cannot be downloaded where
# this module was written. The first `terraform init` with network access creates it;
# lock every platform that runs Terraform and commit it (see README.md).

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    app         = "data-ops-meltano"
    environment = var.environment
    managed-by  = "terraform"
  }
}
