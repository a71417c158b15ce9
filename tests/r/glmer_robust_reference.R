## lme4::glmer reference fits for awkward but real inputs: covariates on badly different scales
## (AER's Fatalities, income in dollars and miles in thousands) and a degenerate Laplace optimum
## (mlmRev's guPrenat, mothers nested in clusters, most mothers with one birth).
##
## Run from anywhere:   Rscript tests/r/glmer_robust_reference.R
## Needs:   apt-get install r-base-core r-cran-lme4 r-cran-aer r-cran-mlmrev
## Writes:  tests/r/glmer_robust_reference.json  (fits, versions, warnings)
##          tests/r/data/robust_<name>.csv         (the columns the models use, exact doubles)
##
## Each data set is stored with its factors' level order (datasets.<name>.factors); each fit has
## formula (for reference.glmer), r_formula (given to R), family, data, and lme4's results
## (default glmer control, Laplace), or lme4's error.

suppressPackageStartupMessages({
  library(lme4)
  library(AER)
  library(mlmRev)
})
here <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 0) getwd() else dirname(normalizePath(f[1]))
})
source(file.path(here, "json_out.R"))
source(file.path(here, "data_out.R"))
data_dir <- file.path(here, "data")
dir.create(data_dir, showWarnings = FALSE)

## ---- data ------------------------------------------------------------------------
data("Fatalities", package = "AER")
fat <- Fatalities[, c("fatal", "income", "miles", "pop", "state")]
## a binary response: more traffic deaths than the median state-year
fat$hi <- as.integer(fat$fatal > median(fat$fatal))
## the same covariates in millions / thousands: lme4 fits these; the log-likelihood does not
## depend on the units, so the fits above must reach the same optimum
fat$pop_m <- fat$pop / 1e6
fat$income_k <- fat$income / 1e3

gu <- guPrenat
gu$modern <- as.integer(gu$prenat == "Modern")
gu$birthOrd <- factor(gu$birthOrd, ordered = FALSE)  # treatment contrasts on both sides
gu <- gu[, c("modern", "cluster", "mom", "childAge", "motherAge", "birthOrd", "indig", "momEd", "husEd",
             "husEmpl", "toilet", "TV", "pcInd81", "ssDist")]

datasets <- list(robust_fatalities = fat, robust_guprenat = gu)
for (nm in names(datasets)) write_exact_csv(datasets[[nm]], file.path(data_dir, paste0(nm, ".csv")))

## ---- fits --------------------------------------------------------------------------
capture <- function(expr) {
  warns <- character(0)
  val <- withCallingHandlers(expr,
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) invokeRestart("muffleMessage"))
  list(value = val, warnings = warns)
}

summary_of <- function(fit, warns) {
  fe <- fixef(fit)
  vc <- VarCorr(fit)
  list(
    fixef_names = as.list(names(fe)),
    fixef = as.list(unname(fe)),
    se = as.list(unname(sqrt(diag(as.matrix(vcov(fit)))))),
    theta_names = as.list(names(getME(fit, "theta"))),
    theta = as.list(unname(getME(fit, "theta"))),
    varcorr_names = as.list(names(vc)),
    sd = as.list(unname(vapply(vc, function(m) attr(m, "stddev")[1], 0))),
    loglik = as.numeric(logLik(fit)),
    singular = isSingular(fit),
    warnings = as.list(warns)
  )
}

specs <- list(
  list(id = "fatalities_poisson", data = "robust_fatalities", family = "poisson",
       formula = "fatal ~ income + miles + (1 | state)"),
  list(id = "fatalities_binomial", data = "robust_fatalities", family = "binomial",
       formula = "hi ~ pop + (1 | state)"),
  list(id = "fatalities_binomial_rescaled", data = "robust_fatalities", family = "binomial",
       formula = "hi ~ pop_m + (1 | state)"),
  list(id = "fatalities_poisson_rescaled", data = "robust_fatalities", family = "poisson",
       formula = "fatal ~ income_k + miles + (1 | state)"),
  list(id = "guprenat_nested", data = "robust_guprenat", family = "binomial",
       formula = "modern ~ 1 + (1 | cluster/mom)"),
  list(id = "guprenat_covariates", data = "robust_guprenat", family = "binomial",
       formula = paste("modern ~ childAge + motherAge + birthOrd + indig + momEd + husEd + husEmpl +",
                       "toilet + TV + pcInd81 + ssDist + (1 | cluster/mom)"))
)

fits <- list()
for (s in specs) {
  d <- datasets[[s$data]]
  cap <- tryCatch(capture(glmer(as.formula(s$formula), data = d, family = s$family)),
                  error = function(e) list(error = conditionMessage(e)))
  fits[[length(fits) + 1]] <- list(
    id = s$id, data = s$data, family = s$family, formula = s$formula, r_formula = s$formula,
    lme4 = if (!is.null(cap$error)) list(error = cap$error) else summary_of(cap$value, cap$warnings)
  )
}

out <- list(
  description = paste("lme4::glmer on badly scaled covariates (AER Fatalities) and a degenerate",
                      "nested fit (mlmRev guPrenat); regenerate with: Rscript tests/r/glmer_robust_reference.R"),
  versions = session_versions(c("lme4", "Matrix", "AER", "mlmRev")),
  generated = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
  datasets = lapply(datasets, function(d) list(nobs = nrow(d), factors = levels_of(d))),
  fits = fits
)
outfile <- file.path(here, "glmer_robust_reference.json")
write_json_file(out, outfile)
cat(sprintf("wrote %d fits to %s\n", length(fits), outfile))
