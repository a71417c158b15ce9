## Time (and report) lme4::glmer.nb and glmmTMB(family = nbinom2) on one data set.
##
## Rscript tests/r/glmer_nb_bench.R DATA.csv "FORMULA" [OFFSET_COLUMN] [REPEATS] [FACTORS] [WHICH]
##   OFFSET_COLUMN  "" for none; the column is passed as offset = (log scale already)
##   REPEATS        fits per package (minimum elapsed is reported); default 1
##   FACTORS        comma-separated columns to read as factors (integer-coded groups)
##   WHICH          "both" (default), "lme4" or "glmmTMB"
## Prints one JSON object: per package elapsed_seconds (min), elapsed_all, loglik, fixef, nb_k.
suppressPackageStartupMessages({
  library(lme4)
  library(MASS)
  library(glmmTMB)
})
here <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 0) getwd() else dirname(normalizePath(f[1]))
})
source(file.path(here, "json_out.R"))
args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 2) stop("usage: glmer_nb_bench.R DATA.csv FORMULA [OFFSET] [REPEATS] [FACTORS] [WHICH]")
arg <- function(i, default) if (length(args) >= i && nzchar(args[i])) args[i] else default
d <- read.csv(args[1], stringsAsFactors = TRUE)
f <- as.formula(args[2])
off_col <- arg(3, "")
reps <- as.integer(arg(4, "1"))
facs <- strsplit(arg(5, ""), ",")[[1]]
which_ <- arg(6, "both")
for (nm in facs) d[[nm]] <- factor(d[[nm]])
off <- if (nzchar(off_col)) d[[off_col]] else NULL

time_fit <- function(fitter) {
  el <- numeric(reps)
  fit <- NULL
  for (i in seq_len(reps)) {
    t <- system.time(fit <- suppressWarnings(suppressMessages(fitter())))
    el[i] <- unname(t["elapsed"])
  }
  list(fit = fit, el = el)
}
out <- list(versions = session_versions(c("lme4", "glmmTMB", "MASS")), nobs = nrow(d))
if (which_ %in% c("both", "lme4")) {
  r <- time_fit(function() if (is.null(off)) glmer.nb(f, data = d) else glmer.nb(f, data = d, offset = off))
  out$lme4 <- list(elapsed_seconds = min(r$el), elapsed_all = as.list(r$el),
                   loglik = as.numeric(logLik(r$fit)), fixef = fixef(r$fit),
                   nb_k = unname(getME(r$fit, "glmer.nb.theta")))
}
if (which_ %in% c("both", "glmmTMB")) {
  r <- time_fit(function() glmmTMB(f, data = d, family = nbinom2, offset = off))
  out$glmmTMB <- list(elapsed_seconds = min(r$el), elapsed_all = as.list(r$el),
                      loglik = as.numeric(logLik(r$fit)), fixef = glmmTMB::fixef(r$fit)$cond,
                      nb_k = sigma(r$fit))
}
cat(to_json(out), "\n")
