## Time one lme4 fit for the GLMM benchmark and print the result as JSON on stdout.
##
## Usage:
##   Rscript tests/r/lme4_bench.R DATA.csv "FORMULA" FAMILY [LINK] [nAGQ] [REPEATS] [FACTORS]
## e.g.
##   Rscript tests/r/lme4_bench.R tests/r/data/cbpp.csv \
##       "cbind(incidence, size - incidence) ~ period + (1 | herd)" binomial
##
## FAMILY is one of binomial, poisson, Gamma, gaussian (gaussian -> lmer(REML = FALSE));
## LINK defaults to the family's canonical link; nAGQ defaults to 1 (Laplace);
## the fit is repeated REPEATS times (default 1) and every elapsed time is reported.
## Columns named in FACTORS (7th argument or environment variable, comma separated) are
## turned into factors before fitting (integer-coded grouping factors such as cbpp's herd);
## character columns are factors anyway.
## glmer/lmer are called with lme4's default control settings.

suppressPackageStartupMessages(library(lme4))
here <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 0) getwd() else dirname(normalizePath(f[1]))
})
source(file.path(here, "json_out.R"))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 3) {
  message("usage: Rscript lme4_bench.R DATA.csv FORMULA FAMILY [LINK] [nAGQ] [REPEATS] [FACTORS]")
  quit(status = 2)
}
path <- args[1]
form <- as.formula(args[2])
family_name <- args[3]
link <- if (length(args) >= 4 && nzchar(args[4])) args[4] else NULL
nagq <- if (length(args) >= 5) as.integer(args[5]) else 1L
repeats <- if (length(args) >= 6) as.integer(args[6]) else 1L

d <- read.csv(path, stringsAsFactors = TRUE)
factor_arg <- if (length(args) >= 7) args[7] else Sys.getenv("FACTORS", "")
for (nm in strsplit(factor_arg, ",")[[1]]) {
  if (nzchar(nm)) d[[nm]] <- factor(d[[nm]])
}
fam <- switch(family_name,
  binomial = if (is.null(link)) binomial() else binomial(link = link),
  poisson = if (is.null(link)) poisson() else poisson(link = link),
  Gamma = if (is.null(link)) Gamma() else Gamma(link = link),
  gaussian = gaussian(),
  stop("unknown family '", family_name, "': use binomial, poisson, Gamma or gaussian"))

warns <- character(0)
times <- numeric(0)
for (i in seq_len(repeats)) {
  t <- system.time(fit <- withCallingHandlers(
    if (family_name == "gaussian") lmer(form, data = d, REML = FALSE)
    else glmer(form, data = d, family = fam, nAGQ = nagq),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) invokeRestart("muffleMessage")))
  times <- c(times, unname(t["elapsed"]))
}
fe <- fixef(fit)
th <- getME(fit, "theta")
out <- list(
  elapsed_seconds = min(times),
  elapsed_all = as.list(times),
  loglik = as.numeric(logLik(fit)),
  fixef = as.list(fe),
  theta = as.list(th),
  nobs = nobs(fit),
  nAGQ = nagq,
  warnings = as.list(unique(warns)),
  versions = session_versions(c("lme4"))
)
cat(to_json(out), "\n")
