/*
 * gradproof_protocol.h: the model's side of gradproof-protocol 1 (docs/protocol.md) in one C99
 * header, for `gradproof check --exec "./model"`. Include it, describe your tensors, and hand
 * gp_serve() your parameters θ (all tensors flattened row-major, one after the other), your
 * cost and your hand-written gradient:
 *
 *     static const gp_tensor tensors[] = {{"W", 2, {3, 4}}, {"b", 1, {3}}};
 *     return gp_serve(tensors, 2, theta, cost, gradient, NULL, &my_model);
 *
 * gp_serve() writes the handshake (dtype f64) on stdout, answers requests read from stdin
 * until gradproof closes it, and returns 0 then (1 on a broken pipe or a malformed request,
 * said on stderr). A callback returning nonzero sends its message (written into `error`, at
 * most GP_ERROR_SIZE bytes with the terminating NUL) to gradproof as an error answer, which
 * stops the check. Print nothing on stdout: it carries the protocol. Log on stderr.
 *
 * Only the C standard library; every function is static, so the header can be included in one
 * translation unit as it is.
 */
#ifndef GRADPROOF_PROTOCOL_H
#define GRADPROOF_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GP_PROTOCOL "gradproof-protocol 1"
#define GP_MAX_RANK 8
#define GP_ERROR_SIZE 1024

/* One parameter tensor: its name, rank (0 for a scalar) and shape. */
typedef struct {
    const char *name;
    int rank;
    size_t shape[GP_MAX_RANK];
} gp_tensor;

/* J(θ) into *cost; 0 on success, else nonzero with a message in `error`. */
typedef int (*gp_cost_fn)(void *model, const double *theta, double *cost, char *error);
/* ∇J(θ) into `gradient` (laid out like θ); 0 on success, else nonzero with a message. */
typedef int (*gp_gradient_fn)(void *model, const double *theta, double *gradient, char *error);
/* J(θ) and the signature of the smooth piece θ lies on (e.g. which ReLUs are active). */
typedef int (*gp_signature_fn)(void *model, const double *theta, double *cost,
                               uint64_t *signature, char *error);

static int gp__write_u64(FILE *out, uint64_t value) {
    unsigned char bytes[8];
    int i;
    for (i = 0; i < 8; i++) bytes[i] = (unsigned char)(value >> (8 * i));
    return fwrite(bytes, 1, 8, out) == 8 ? 0 : -1;
}

static int gp__read_u64(FILE *in, uint64_t *value) {
    unsigned char bytes[8];
    int i;
    if (fread(bytes, 1, 8, in) != 8) return -1;
    *value = 0;
    for (i = 0; i < 8; i++) *value |= (uint64_t)bytes[i] << (8 * i);
    return 0;
}

/* A frame: the count, then the doubles, little-endian whatever the machine's byte order. */
static int gp__write_frame(FILE *out, const double *values, size_t count) {
    size_t i;
    if (gp__write_u64(out, (uint64_t)count)) return -1;
    for (i = 0; i < count; i++) {
        uint64_t bits;
        memcpy(&bits, &values[i], sizeof bits);
        if (gp__write_u64(out, bits)) return -1;
    }
    return 0;
}

static int gp__read_frame(FILE *in, double *values, size_t expected) {
    uint64_t count, bits;
    size_t i;
    if (gp__read_u64(in, &count)) return -1;
    if (count != (uint64_t)expected) {
        fprintf(stderr, "gradproof_protocol: a frame of %llu values, expected %lu\n",
                (unsigned long long)count, (unsigned long)expected);
        return -1;
    }
    for (i = 0; i < expected; i++) {
        if (gp__read_u64(in, &bits)) return -1;
        memcpy(&values[i], &bits, sizeof bits);
    }
    return 0;
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void gp__write_json_string(FILE *out, const char *text) {
    fputc('"', out);
    for (; *text; text++) {
        unsigned char c = (unsigned char)*text;
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c < 0x20) fprintf(out, "\\u%04x", c);
        else fputc(c, out);
    }
    fputc('"', out);
}

static int gp__write_error(FILE *out, const char *message) {
    size_t length = strlen(message);
    unsigned char bytes[4];
    int i;
    for (i = 0; i < 4; i++) bytes[i] = (unsigned char)(length >> (8 * i));
    fputc('E', out);
    fwrite(bytes, 1, 4, out);
    return fwrite(message, 1, length, out) == length ? 0 : -1;
}

/* Serves gradproof's requests until it closes stdin (see the top of this file). `signature`
 * may be NULL (no piece signatures declared). */
static int gp_serve(const gp_tensor *tensors, size_t count, const double *theta,
                    gp_cost_fn cost, gp_gradient_fn gradient, gp_signature_fn signature,
                    void *model) {
    FILE *in = stdin, *out = stdout;
    size_t n = 0, t;
    int d, tag, status = 1;
    double *point, *answer, value;
    uint64_t piece;
    char error[GP_ERROR_SIZE];

    fputs("{\"protocol\": \"" GP_PROTOCOL "\", \"dtype\": \"f64\", \"tensors\": [", out);
    for (t = 0; t < count; t++) {
        size_t size = 1;
        fputs(t ? ", {\"name\": " : "{\"name\": ", out);
        gp__write_json_string(out, tensors[t].name);
        fputs(", \"shape\": [", out);
        for (d = 0; d < tensors[t].rank; d++) {
            fprintf(out, d ? ", %lu" : "%lu", (unsigned long)tensors[t].shape[d]);
            size *= tensors[t].shape[d];
        }
        fputs("]}", out);
        n += size;
    }
    fprintf(out, "], \"signatures\": %s}\n", signature ? "true" : "false");
    point = (double *)malloc((n ? n : 1) * sizeof *point);
    answer = (double *)malloc((n ? n : 1) * sizeof *answer);
    if (!point || !answer || gp__write_frame(out, theta, n) || fflush(out)) goto done;
    for (;;) {
        tag = fgetc(in);
        if (tag == EOF) { status = 0; break; } /* gradproof closed stdin: shut down */
        if (gp__read_frame(in, point, n)) break;
        error[0] = '\0';
        error[GP_ERROR_SIZE - 1] = '\0'; /* whatever a callback wrote, a terminated string */
        if (tag == 'C') {
            if (cost(model, point, &value, error)) gp__write_error(out, error);
            else { fputc('R', out); gp__write_frame(out, &value, 1); }
        } else if (tag == 'G') {
            if (gradient(model, point, answer, error)) gp__write_error(out, error);
            else { fputc('R', out); gp__write_frame(out, answer, n); }
        } else if (tag == 'S' && signature) {
            if (signature(model, point, &value, &piece, error)) gp__write_error(out, error);
            else { fputc('R', out); gp__write_frame(out, &value, 1); gp__write_u64(out, piece); }
        } else {
            fprintf(stderr, "gradproof_protocol: unknown request tag %d\n", tag);
            break;
        }
        if (fflush(out)) break;
    }
done:
    free(point);
    free(answer);
    return status;
}

#endif /* GRADPROOF_PROTOCOL_H */
