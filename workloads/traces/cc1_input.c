/* The program behind cc1-compile.trace: a small C file that GCC's compiler proper (cc1)
   compiles at -O2 after the preprocessor has expanded its headers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
    struct node *left, *right;
    double value;
    char name[24];
};

static struct node *build(int depth, unsigned *seed) {
    if (depth == 0) return NULL;
    struct node *n = malloc(sizeof *n);
    *seed = *seed * 1103515245u + 12345u;
    n->value = sqrt((double)(*seed % 1000));
    snprintf(n->name, sizeof n->name, "node-%u", *seed % 997);
    n->left = build(depth - 1, seed);
    n->right = build(depth - 1, seed);
    return n;
}

static double sum(const struct node *n) { return n ? n->value + sum(n->left) + sum(n->right) : 0.0; }

static void release(struct node *n) {
    if (!n) return;
    release(n->left);
    release(n->right);
    free(n);
}

int main(int argc, char **argv) {
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1u;
    struct node *root = build(12, &seed);
    printf("%s %.3f\n", root->name, sum(root));
    release(root);
    return strcmp(argv[0], "") == 0;
}
