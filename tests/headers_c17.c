/* Every public header, included from plain C17 with -pedantic-errors (see CMakeLists.txt).
 * Each header must compile on its own, in any order. */
#include "results/results.h"
#include "plots/plots.h"
#include "suites/suites.h"
#include "eval/eval.h"
#include "bench/bench.h"
#include "engine/engine.h"

int vlm_headers_c17_status_ok(void);
int vlm_headers_c17_status_ok(void) { return VLM_OK == 0 && VLM_RESULTS_SCHEMA >= 1; }
