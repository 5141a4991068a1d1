/*
 * The cheapest model there is, J(θ) = Σ θᵢ² over one tensor of N values (θᵢ = i/N), for
 * measuring what a request costs in gradproof-protocol 1 itself (docs/benchmarks.md):
 *
 *     cc -O2 -I clients/c clients/c/examples/squares.c -o squares
 *     gradproof check --exec "./squares 1000" --format json
 */
#include <stdlib.h>

#include "gradproof_protocol.h"

static size_t n;

static int cost(void *model, const double *theta, double *value, char *error) {
    size_t i;
    (void)model;
    (void)error;
    *value = 0;
    for (i = 0; i < n; i++) *value += theta[i] * theta[i];
    return 0;
}

static int gradient(void *model, const double *theta, double *g, char *error) {
    size_t i;
    (void)model;
    (void)error;
    for (i = 0; i < n; i++) g[i] = 2 * theta[i];
    return 0;
}

int main(int argc, char **argv) {
    gp_tensor tensors[1] = {{"theta", 1, {0}}};
    double *theta;
    size_t i;
    int status;
    n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 100;
    if (n == 0) return 2;
    tensors[0].shape[0] = n;
    theta = (double *)malloc(n * sizeof *theta);
    if (!theta) return 2;
    for (i = 0; i < n; i++) theta[i] = (double)i / (double)n;
    status = gp_serve(tensors, 1, theta, cost, gradient, NULL, NULL);
    free(theta);
    return status;
}
