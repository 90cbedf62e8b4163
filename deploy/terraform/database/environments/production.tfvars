# terraform workspace select production
# terraform plan -var-file=environments/production.tfvars -out=$HOME/meltano-database-production.tfplan
environment            = "production"
terraform_state_bucket = "data-ops-meltano-production-terraform-state"
