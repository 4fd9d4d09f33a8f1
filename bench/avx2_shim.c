/* Loaded with LD_PRELOAD by bench/avx2.py: makes a process on an AVX-512 CPU take the code
 * paths an AVX2-only CPU (no AVX-512, no VNNI) would take, at native speed.
 *
 * 1. XGETBV. Libraries ask the OS, through XCR0, whether it saves the AVX-512 registers
 *    (bits 5-7) before they use AVX-512; without those bits they fall back to AVX2. bench/avx2.py
 *    rewrites each XGETBV instruction (0f 01 d0) of onnxruntime's library, in a copy, as
 *    UD2 + NOP (0f 0b 90); the SIGILL handler below runs the real XGETBV, clears bits 5-7 and
 *    steps over the three bytes. (CPUID cannot be masked from user space on CPUs without
 *    CPUID faulting, and onnxruntime has no switch of its own.) Handlers that others set
 *    for SIGILL (sigaction) are chained behind it.
 * 2. /proc/cpuinfo. embedspace reads the CPU class from its flags; opening that file opens
 *    the file named by AVX2_SHIM_CPUINFO instead (the same text without the AVX-512, VNNI
 *    and AMX flags).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

/* Python's faulthandler (pytest turns it on) and others install SIGILL handlers of their own;
 * the one the kernel calls stays this one, and theirs is called for every other SIGILL. */
static struct sigaction chained;
static int have_chained = 0;
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *) = 0;

static void on_sigill(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = context;
    const unsigned char *ip = (const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];
    if (info->si_code > 0 && ip[0] == 0x0f && ip[1] == 0x0b && ip[2] == 0x90) {
        uint32_t ecx = (uint32_t)uc->uc_mcontext.gregs[REG_RCX], eax, edx;
        __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(ecx));
        if (ecx == 0) eax &= ~0xE0u; /* opmask, ZMM_Hi256, Hi16_ZMM: no AVX-512 state */
        uc->uc_mcontext.gregs[REG_RAX] = eax;
        uc->uc_mcontext.gregs[REG_RDX] = edx;
        uc->uc_mcontext.gregs[REG_RIP] += 3;
        return;
    }
    if (have_chained && (chained.sa_flags & SA_SIGINFO)) {
        chained.sa_sigaction(sig, info, context);
        return;
    }
    if (have_chained && chained.sa_handler != SIG_DFL && chained.sa_handler != SIG_IGN) {
        chained.sa_handler(sig);
        return;
    }
    struct sigaction fallback; /* a real illegal instruction: crash as it would have */
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    real_sigaction(sig, &fallback, 0);
}

static void find_sigaction(void) {
    if (!real_sigaction)
        real_sigaction = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(
            RTLD_NEXT, "sigaction");
}

int sigaction(int sig, const struct sigaction *action, struct sigaction *old) {
    find_sigaction();
    if (sig != SIGILL) return real_sigaction(sig, action, old);
    if (old) {
        if (have_chained) {
            *old = chained;
        } else {
            memset(old, 0, sizeof *old);
            old->sa_handler = SIG_DFL;
        }
    }
    if (action) {
        chained = *action;
        have_chained = 1;
    }
    return 0;
}

__attribute__((constructor)) static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigill;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    find_sigaction();
    real_sigaction(SIGILL, &action, 0);
}

static const char *redirect(const char *path) {
    const char *masked = getenv("AVX2_SHIM_CPUINFO");
    if (masked && path && strcmp(path, "/proc/cpuinfo") == 0) return masked;
    return path;
}

#define OPEN_HOOK(name, ...)                                                   \
    int name(__VA_ARGS__, int flags, ...) {                                    \
        static int (*real)() = 0;                                              \
        if (!real) real = (int (*)())dlsym(RTLD_NEXT, #name);                  \
        mode_t mode = 0;                                                       \
        if (flags & (O_CREAT | O_TMPFILE)) {                                   \
            va_list args;                                                      \
            va_start(args, flags);                                             \
            mode = va_arg(args, mode_t);                                       \
            va_end(args);                                                      \
        }                                                                      \
        return OPEN_CALL;                                                      \
    }

#define OPEN_CALL real(redirect(path), flags, mode)
OPEN_HOOK(open, const char *path)
OPEN_HOOK(open64, const char *path)
#undef OPEN_CALL
#define OPEN_CALL real(dirfd, redirect(path), flags, mode)
OPEN_HOOK(openat, int dirfd, const char *path)
OPEN_HOOK(openat64, int dirfd, const char *path)
