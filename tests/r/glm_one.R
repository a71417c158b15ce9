## Fit one glm() and print its coefficients, SEs, deviance and AIC as JSON (for live tests).
##
## Usage: Rscript tests/r/glm_one.R DATA.csv "FORMULA" FAMILY [LINK] [WEIGHTS_COLUMN] [OFFSET_COLUMN]
## FAMILY is an R family function name (gaussian, binomial, poisson, Gamma, inverse.gaussian).
## Character columns are read as factors (levels in R's sort order).

here <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 0) getwd() else dirname(normalizePath(f[1]))
})
source(file.path(here, "json_out.R"))
args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 3) {
  message("usage: Rscript glm_one.R DATA.csv FORMULA FAMILY [LINK] [WEIGHTS] [OFFSET]")
  quit(status = 2)
}
d <- read.csv(args[1], stringsAsFactors = TRUE)
fam_fun <- get(args[3], mode = "function")
fam <- if (length(args) >= 4 && nzchar(args[4])) fam_fun(link = args[4]) else fam_fun()
## glm() evaluates weights/offset inside the data first: use names no data column has.
.glm_one_weights <- if (length(args) >= 5 && nzchar(args[5])) d[[args[5]]] else NULL
.glm_one_offset <- if (length(args) >= 6 && nzchar(args[6])) d[[args[6]]] else NULL
## R's default glm.control(), as an R user would fit it
fit <- glm(as.formula(args[2]), data = d, family = fam, weights = .glm_one_weights,
           offset = .glm_one_offset)
s <- summary(fit)
out <- list(
  coef_names = as.list(names(coef(fit))),
  coef = as.list(unname(coef(fit))),
  se = as.list(unname(s$coefficients[, "Std. Error"])),
  deviance = fit$deviance,
  null_deviance = fit$null.deviance,
  aic = fit$aic,
  dispersion = s$dispersion,
  converged = fit$converged,
  versions = session_versions("stats")
)
cat(to_json(out), "\n")
