## Time one lme4::lmer fit (default control) and print the result as JSON on stdout.
##
## Usage:
##   Rscript tests/r/lmer_bench.R DATA.csv "FORMULA" [REML] [REPEATS] [FACTORS]
## e.g.
##   Rscript tests/r/lmer_bench.R tests/r/data/lmer_sleepstudy.csv "Reaction ~ Days + (Days | Subject)" TRUE 5 Subject
##
## REML is TRUE (default) or FALSE; the fit is repeated REPEATS times (default 1) and the
## smallest elapsed time is reported with all of them. Columns named in FACTORS (comma
## separated) are turned into factors (integer-coded grouping factors); character columns
## are factors anyway. Prints {"elapsed_seconds", "elapsed_all", "theta", "fixef", "sigma",
## "loglik", "reml", "nobs"}.

suppressPackageStartupMessages(library(lme4))
here <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 0) getwd() else dirname(normalizePath(f[1]))
})
source(file.path(here, "json_out.R"))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 2) {
  message("usage: Rscript lmer_bench.R DATA.csv FORMULA [REML] [REPEATS] [FACTORS]")
  quit(status = 2)
}
d <- read.csv(args[1], stringsAsFactors = TRUE)
form <- as.formula(args[2])
reml <- if (length(args) >= 3 && nzchar(args[3])) as.logical(args[3]) else TRUE
repeats <- if (length(args) >= 4 && nzchar(args[4])) as.integer(args[4]) else 1L
factors <- if (length(args) >= 5 && nzchar(args[5])) strsplit(args[5], ",")[[1]] else character(0)
for (nm in factors) d[[nm]] <- factor(d[[nm]])

times <- numeric(repeats)
for (i in seq_len(repeats)) {
  t0 <- proc.time()[["elapsed"]]
  fit <- suppressMessages(lmer(form, data = d, REML = reml))
  times[i] <- proc.time()[["elapsed"]] - t0
}
ll <- logLik(fit)
fe <- fixef(fit)
cat(to_json(list(
  elapsed_seconds = min(times),
  elapsed_all = as.list(times),
  theta = as.list(unname(getME(fit, "theta"))),
  fixef = as.list(unname(fe)),
  sigma = sigma(fit),
  loglik = as.numeric(ll),
  reml = reml,
  nobs = nobs(fit)
)), "\n")
