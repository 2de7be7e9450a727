/* Host tool for the RP2040 build: pad the boot2 image to 252 bytes and append the CRC-32
 * the boot ROM checks (polynomial 0x04C11DB7, initial 0xFFFFFFFF, MSB first, no final
 * xor). Usage: boot2_crc IN.bin OUT.bin */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    uint8_t buf[256];
    memset(buf, 0, sizeof buf);
    if (argc != 3) {
        fprintf(stderr, "usage: %s IN.bin OUT.bin\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (in == NULL) {
        perror(argv[1]);
        return 1;
    }
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    if (n > 252 && n != 256) {
        fprintf(stderr, "boot2 is %zu bytes; at most 252 fit before the CRC\n", n);
        return 1;
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (int i = 0; i < 252; i++) {
        crc ^= (uint32_t)buf[i] << 24;
        for (int b = 0; b < 8; b++) {
            crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04C11DB7u : crc << 1;
        }
    }
    for (int i = 0; i < 4; i++) {
        buf[252 + i] = (uint8_t)(crc >> (8 * i));
    }
    FILE *out = fopen(argv[2], "wb");
    if (out == NULL || fwrite(buf, 1, sizeof buf, out) != sizeof buf) {
        perror(argv[2]);
        return 1;
    }
    return fclose(out) == 0 ? 0 : 1;
}
