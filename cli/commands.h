// The subcommands of `useg`. Each takes the arguments after its name
// (argv[0] is the subcommand) and returns the exit code: 0 ok, 1 runtime
// error, 2 usage error.
#pragma once

enum { USEG_EXIT_OK = 0, USEG_EXIT_RUNTIME = 1, USEG_EXIT_USAGE = 2 };

int useg_cmd_eval(int argc, char **argv);
int useg_cmd_features(int argc, char **argv);
int useg_cmd_maskcut(int argc, char **argv);
int useg_cmd_merge(int argc, char **argv);
int useg_cmd_selfcheck(int argc, char **argv);
int useg_cmd_unsam(int argc, char **argv);
int useg_cmd_devices(int argc, char **argv);
