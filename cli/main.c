/* main.c — `slm`: the command table, global --help / --version, and the
 * dispatch to cmd_<name>(argc, argv) with argv[0] = the subcommand name.
 * Exit codes: 0 success, 1 runtime failure, 2 usage error. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"info", cmd_info, "describe a model (architecture, shapes, types, memory)"},
    {"tokenize", cmd_tokenize, "show the tokens of a text"},
    {"logits", cmd_logits, "write the logits of a token sequence to a file"},
#ifndef SLM_MINIMAL /* -DSLM_MINIMAL=ON: inference commands only */
    {"gen-model", cmd_gen_model, "write a random-weight model with a real model's shape"},
#endif
    {"bench", cmd_bench, "measure prompt and generation speed"},
#ifndef SLM_MINIMAL
    {"train", cmd_train, "train a llama-architecture model on text files"},
    {"tokenizer", cmd_tokenizer, "train a tokenizer (SentencePiece-style or byte-level BPE) on text"},
    {"quantize", cmd_quantize, "write a quantized copy of a model (llama-quantize's mixes)"},
    {"perplexity", cmd_perplexity, "perplexity on a text file (llama.cpp's method), KL vs a base model"},
    {"imatrix", cmd_imatrix, "collect an importance matrix on calibration text (for quantize)"},
    {"template", cmd_template, "render a chat template (Jinja) with a JSON context"},
    {"serve", cmd_serve, "serve the model over HTTP with OpenAI's API (completions, chat, SSE)"},
    {"prune", cmd_prune, "prune a model: layers, FFN channels, magnitude or Wanda sparsity"},
    {"chat", cmd_chat, "talk with a model through its chat template (REPL, --messages, tool calls)"},
    {"distill", cmd_distill, "distill a teacher model into a smaller student (KL + cross-entropy)"},
    {"grammar", cmd_grammar, "JSON Schema to GBNF, and check a grammar (or text against it)"},
    {"dna", cmd_dna, "genomic LM: pretrain, finetune, predict, embed, score, generate, bench"},
#endif
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm COMMAND [ARGS...]\n"
            "       slm --help | --version\n"
            "\n"
            "Run llama-family GGUF models on the CPU.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'slm COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        if (strcmp(name, "help") == 0 && argc > 2) {
            for (size_t i = 0; i < N_COMMANDS; i++) {
                if (strcmp(argv[2], commands[i].name) == 0) {
                    char *sub[] = {argv[2], "--help", NULL};
                    return commands[i].fn(2, sub);
                }
            }
            fprintf(stderr, "slm: unknown command '%s'\nTry 'slm --help'.\n", argv[2]);
            return CLI_USAGE;
        }
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("slm %s (libslm %s)\n", SLM_VERSION_STRING, slm_version());
        return CLI_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(name, commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "slm: unknown command '%s'\nTry 'slm --help'.\n", name);
    return CLI_USAGE;
}
