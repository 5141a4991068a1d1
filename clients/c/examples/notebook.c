/*
 * The seed notebook's 3-layer network in C, as a model process for `gradproof check --exec`:
 * LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID with the logistic cost, on the
 * notebook's seeded test case (numpy's legacy generator, seed 1: the values below are numpy's
 * draws, printed exactly), and its backward pass with the notebook's two bugs (dW2 doubled, db1
 * quadrupled), or corrected with --fixed. Mirrors examples/notebook.py line for line.
 *
 *     cc -O2 -I clients/c clients/c/examples/notebook.c -o notebook -lm
 *     gradproof check --exec ./notebook --step 1e-7          # fails: dW2, db1, 0.285093156781
 *     gradproof check --exec "./notebook --fixed" --step 1e-7  # passes
 */
#include <math.h>
#include <string.h>

#include "gradproof_protocol.h"

#define M 3 /* examples */
#define N0 4
#define N1 5
#define N2 3

static const double X[N0][M] = {
    {1.6243453636632417, -0.6117564136500754, -0.5281717522634557},
    {-1.0729686221561705, 0.8654076293246785, -2.3015386968802827},
    {1.74481176421648, -0.7612069008951028, 0.31903909605709857},
    {-0.2493703754774101, 1.462107937044974, -2.060140709497654}};
static const double Y[M] = {1, 1, 0};

/* W1 (5, 4), b1 (5, 1), W2 (3, 5), b2 (3, 1), W3 (1, 3), b3 (1, 1), flattened row-major. */
#define P 47
static const double THETA[P] = {
    -0.3224172040135075, -0.38405435466841564, 1.1337694423354374, -1.0998912673140309,
    -0.17242820755043575, -0.8778584179213718, 0.04221374671559283, 0.5828152137158222,
    -1.1006191772129212, 1.1447237098396141, 0.9015907205927955, 0.5024943389018682,
    0.9008559492644118, -0.6837278591743331, -0.12289022551864817, -0.9357694342590688,
    -0.2678880796260159, 0.530355466738186, -0.691660751725309, -0.39675352685597737,
    -0.6871727001195994, -0.8452056414987196, -0.671246130836819, -0.01266459891890136,
    -1.1173103486352778,
    0.23441569781709215, 1.6598021771098705, 0.7420441605773356, -0.19183555236161492,
    -0.8876289640848363, -0.7471582937508376, 1.6924546010277466, 0.05080775477602897,
    -0.6369956465693534, 0.19091548466746602, 2.100255136478842, 0.12015895248162915,
    0.6172031097074192, 0.3001703199558275, -0.35224984649351865,
    -1.1425181980221402, -0.3493427224128775, -0.2088942333747781,
    0.5866231911821976, 0.8389834138745049, 0.9311020813035573,
    0.2855873252542588};

/* Where each tensor starts in θ. */
enum { W1 = 0, B1 = 20, W2 = 25, B2 = 40, W3 = 43, B3 = 46 };

typedef struct {
    double z1[N1][M], a1[N1][M], z2[N2][M], a2[N2][M], a3[M];
} cache;

/* out[i][j] = Σ_k w[i][k]·in[k][j] + b[i], for an (rows × inner) weight. */
static void linear(const double *w, const double *b, int rows, int inner, const double *in,
                   double *out) {
    int i, j, k;
    for (i = 0; i < rows; i++)
        for (j = 0; j < M; j++) {
            double sum = 0;
            for (k = 0; k < inner; k++) sum += w[i * inner + k] * in[k * M + j];
            out[i * M + j] = sum + b[i];
        }
}

static double relu(double x) { return x > 0 ? x : 0; }

static double forward(const double *theta, cache *c) {
    double z3[M], cost = 0;
    int i, j;
    linear(theta + W1, theta + B1, N1, N0, &X[0][0], &c->z1[0][0]);
    for (i = 0; i < N1; i++)
        for (j = 0; j < M; j++) c->a1[i][j] = relu(c->z1[i][j]);
    linear(theta + W2, theta + B2, N2, N1, &c->a1[0][0], &c->z2[0][0]);
    for (i = 0; i < N2; i++)
        for (j = 0; j < M; j++) c->a2[i][j] = relu(c->z2[i][j]);
    linear(theta + W3, theta + B3, 1, N2, &c->a2[0][0], z3);
    for (j = 0; j < M; j++) {
        c->a3[j] = 1 / (1 + exp(-z3[j]));
        cost += -log(c->a3[j]) * Y[j] + -log(1 - c->a3[j]) * (1 - Y[j]);
    }
    return 1.0 / M * cost;
}

static int cost(void *model, const double *theta, double *value, char *error) {
    cache c;
    (void)model;
    (void)error;
    *value = forward(theta, &c);
    return 0;
}

static int gradient(void *model, const double *theta, double *g, char *error) {
    const int fixed = *(const int *)model;
    cache c;
    double dz3[M], dz2[N2][M], dz1[N1][M];
    int i, j, k;
    (void)error;
    forward(theta, &c);
    for (j = 0; j < M; j++) dz3[j] = c.a3[j] - Y[j];
    g[B3] = 0;
    for (j = 0; j < M; j++) g[B3] += dz3[j];
    g[B3] *= 1.0 / M;
    for (k = 0; k < N2; k++) {
        double sum = 0;
        for (j = 0; j < M; j++) sum += dz3[j] * c.a2[k][j];
        g[W3 + k] = 1.0 / M * sum;
        for (j = 0; j < M; j++) /* dA2 = W3ᵀ dZ3, masked by the ReLU */
            dz2[k][j] = theta[W3 + k] * dz3[j] * (c.a2[k][j] > 0);
    }
    for (i = 0; i < N2; i++) {
        double sum = 0;
        for (j = 0; j < M; j++) sum += dz2[i][j];
        g[B2 + i] = 1.0 / M * sum;
        for (k = 0; k < N1; k++) {
            double dot = 0;
            for (j = 0; j < M; j++) dot += dz2[i][j] * c.a1[k][j];
            g[W2 + i * N1 + k] = 1.0 / M * dot * (fixed ? 1 : 2); /* the bug: * 2 */
        }
    }
    for (k = 0; k < N1; k++)
        for (j = 0; j < M; j++) {
            double da1 = 0;
            for (i = 0; i < N2; i++) da1 += theta[W2 + i * N1 + k] * dz2[i][j];
            dz1[k][j] = da1 * (c.a1[k][j] > 0);
        }
    for (i = 0; i < N1; i++) {
        double sum = 0;
        for (j = 0; j < M; j++) sum += dz1[i][j];
        g[B1 + i] = (fixed ? 1.0 : 4.0) / M * sum; /* the bug: 4./m */
        for (k = 0; k < N0; k++) {
            double dot = 0;
            for (j = 0; j < M; j++) dot += dz1[i][j] * X[k][j];
            g[W1 + i * N0 + k] = 1.0 / M * dot;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    static const gp_tensor tensors[] = {{"W1", 2, {N1, N0}}, {"b1", 2, {N1, 1}},
                                        {"W2", 2, {N2, N1}}, {"b2", 2, {N2, 1}},
                                        {"W3", 2, {1, N2}},  {"b3", 2, {1, 1}}};
    int fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    return gp_serve(tensors, 6, THETA, cost, gradient, NULL, &fixed);
}
