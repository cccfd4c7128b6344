// The one translation unit that compiles stb_image (PNG and JPEG decoding).
// Built with warnings off (data/meson.build): it is Debian's libstb-dev
// header, not our code.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#include <stb/stb_image.h>
