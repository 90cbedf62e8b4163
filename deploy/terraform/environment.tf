# The environment this state describes. Self-contained on purpose (no provider): the
# offline tests run this file alone to prove a workspace/tfvars mismatch stops a plan.

variable "environment" {
  description = "staging or production; must equal the selected Terraform workspace."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be \"staging\" or \"production\"."
  }
}

locals {
  is_production = var.environment == "production"
  # Production keeps the original names; staging gets a suffix.
  suffix = local.is_production ? "" : "-${var.environment}"
}

# Fails the plan (so nothing can be applied) when the tfvars of one environment are
# used in the workspace of the other, or in the default workspace.
resource "terraform_data" "workspace_guard" {
  input = var.environment

  lifecycle {
    precondition {
      condition     = terraform.workspace == var.environment
      error_message = "Workspace \"${terraform.workspace}\" does not match environment \"${var.environment}\": these tfvars belong to `terraform workspace select ${var.environment}`."
    }
  }
}
