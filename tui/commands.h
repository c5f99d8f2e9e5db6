/* The headless subcommands: `tagbench CMD ...`. Each takes the arguments after CMD (argv[0] is
 * the command name) and returns the process exit status: 0 ok, 1 failure, 2 usage error.
 * Errors go to stderr and name the file and the reason; results go to stdout. */
#ifndef TUI_COMMANDS_H
#define TUI_COMMANDS_H

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

int cmd_summary(int argc, char **argv);
int cmd_tags(int argc, char **argv);
int cmd_edit(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_pipeline(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_open(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);

#endif
