// The --device parser, and opening a device that cannot exist (cuda:1023):
// exit code 1, the context left on the CPU with no error pending.
#include <string.h>

#include "../check.h"
#include "commands.h"
#include "device_arg.h"

int main(void) {
    static const struct {
        const char *text;
        bool ok;
        useg_device device;
        int index;
    } cases[] = {
        {"cpu", true, USEG_DEVICE_CPU, 0},     {"cuda", true, USEG_DEVICE_CUDA, 0},
        {"cuda:0", true, USEG_DEVICE_CUDA, 0}, {"cuda:7", true, USEG_DEVICE_CUDA, 7},
        {"cuda:1023", true, USEG_DEVICE_CUDA, 1023},
        {"", false, 0, 0},      {"gpu", false, 0, 0},      {"CPU", false, 0, 0},     {"cuda:", false, 0, 0},
        {"cuda:-1", false, 0, 0}, {"cuda:1024", false, 0, 0}, {"cuda:1x", false, 0, 0}, {"cuda:0 ", false, 0, 0},
        {"cuda0", false, 0, 0}, {"cpu:0", false, 0, 0},    {"cuda:99999", false, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        useg_device_choice c = {USEG_DEVICE_CPU, -5};
        bool ok = useg_parse_device(cases[i].text, &c);
        CHECK(ok == cases[i].ok, "'%s': parsed %d, expected %d", cases[i].text, ok, cases[i].ok);
        if (ok && cases[i].ok)
            CHECK(c.device == cases[i].device && c.index == cases[i].index, "'%s': got %d:%d", cases[i].text,
                  (int)c.device, c.index);
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_device_choice cpu = {USEG_DEVICE_CPU, 0}, absent = {USEG_DEVICE_CUDA, 1023};
    CHECK(useg_open_device(&ctx, "test", &cpu, NULL) == USEG_EXIT_OK, "the CPU always opens");
    CHECK(useg_open_device(&ctx, "test", &absent, NULL) == USEG_EXIT_RUNTIME, "cuda:1023 does not open");
    CHECK(ctx.cuda == NULL && ctx.status == USEG_OK, "a failed open leaves the context on the CPU, error cleared");
    useg_ctx_free(&ctx);
    return check_report("device_arg");
}
