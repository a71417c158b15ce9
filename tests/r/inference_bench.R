## Time lme4's confint(method = "profile") and a parametric bootstrap (confint(method = "boot"),
## i.e. bootMer with percentile intervals) for benchmarks/bench_inference.py; prints JSON.
##
## Usage:
##   Rscript tests/r/inference_bench.R CASE [NSIM] [SEED]
## CASE is cbpp, sleepstudy or grouseticks (the data written by inference_reference.R);
## NSIM defaults to 500. Prints {"case", "profile_seconds", "boot_seconds", "nsim", "profile", "boot"}.

suppressPackageStartupMessages(library(lme4))
here <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 0) getwd() else dirname(normalizePath(f[1]))
})
source(file.path(here, "json_out.R"))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1) {
  message("usage: Rscript inference_bench.R CASE [NSIM] [SEED]")
  quit(status = 2)
}
case <- args[1]
nsim <- if (length(args) >= 2) as.integer(args[2]) else 500L
seed <- if (length(args) >= 3) as.integer(args[3]) else 1L
d <- read.csv(file.path(here, "data", paste0("inference_", case, ".csv")), stringsAsFactors = TRUE)
fit <- switch(case,
  cbpp = {
    d$herd <- factor(d$herd)
    d$period <- factor(d$period)
    glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial)
  },
  sleepstudy = {
    d$Subject <- factor(d$Subject)
    lmer(Reaction ~ Days + (Days | Subject), d)
  },
  grouseticks = {
    for (v in c("BROOD", "YEAR", "LOCATION")) d[[v]] <- factor(d[[v]])
    glmer(TICKS ~ YEAR + sHEIGHT + (1 | BROOD) + (1 | LOCATION), data = d, family = poisson)
  },
  stop("unknown case ", case)
)
as_list <- function(ci) list(names = as.list(rownames(ci)), lower = as.list(unname(ci[, 1])), upper = as.list(unname(ci[, 2])))
t0 <- proc.time()[["elapsed"]]
prof <- suppressWarnings(confint(fit, method = "profile", oldNames = FALSE, quiet = TRUE))
t1 <- proc.time()[["elapsed"]]
set.seed(seed)
boot <- suppressWarnings(suppressMessages(confint(fit, method = "boot", nsim = nsim, oldNames = FALSE, quiet = TRUE)))
t2 <- proc.time()[["elapsed"]]
cat(to_json(list(case = case, nsim = nsim, profile_seconds = t1 - t0, boot_seconds = t2 - t1,
                 profile = as_list(prof), boot = as_list(boot))), "\n")
