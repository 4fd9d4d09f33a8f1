/* Loaded with LD_PRELOAD by bench/avx2.py: makes a process on an AVX-512 CPU take the code
 * paths an AVX2-only CPU (no AVX-512, no VNNI) would take, at native speed.
 *
 * 1. XGETBV. Libraries ask the OS, through XCR0, whether it saves the AVX-512 registers
 *    (bits 5-7) before they use AVX-512; without those bits they fall back to AVX2. bench/avx2.py
 *    rewrites each XGETBV instruction (0f 01 d0) of onnxruntime's libraries, in a copy, as
 *    UD2 + NOP (0f 0b 90); the SIGILL handler below runs the real XGETBV, clears bits 5-7 and
 *    steps over the three bytes. Only faults inside that copy are treated so: a UD2 anywhere
 *    else crashes as it would have. (CPUID cannot be masked from user space on CPUs without
 *    CPUID faulting, and onnxruntime has no switch of its own.)
 *    Python's faulthandler (pytest turns it on) installs a SIGILL handler of its own through
 *    sigaction(); that call is interposed here, so the kernel keeps calling this handler, which
 *    calls theirs for every other SIGILL. (glibc's signal() and sigset() go around it.)
 * 2. /proc/cpuinfo. embedspace reads the CPU class from its flags; open() and openat() of that
 *    path open the file named by AVX2_SHIM_CPUINFO instead (the same text without the
 *    AVX-512, VNNI and AMX flags). fopen() and the fortified __open_2 are not redirected.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <ucontext.h>

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);

static struct sigaction chained; /* the SIGILL handler others asked for */
static volatile sig_atomic_t have_chained = 0;
static sigaction_fn real_sigaction = 0;

static void find_sigaction(void) {
    if (!real_sigaction) real_sigaction = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
}

static int in_masked_copy(const void *ip) {
    Dl_info where;
    return dladdr(ip, &where) && where.dli_fname && strstr(where.dli_fname, "/avx2/site/");
}

static void on_sigill(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = context;
    const unsigned char *ip = (const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];
    if (info->si_code > 0 && ip[0] == 0x0f && ip[1] == 0x0b && ip[2] == 0x90 &&
        in_masked_copy(ip)) {
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
    if (have_chained && chained.sa_handler == SIG_IGN && info->si_code <= 0) return;
    /* no one else handles it: die of it as the process would have without this shim (a
     * fault happens again on return; a signal sent by kill() or raise() is sent again) */
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    real_sigaction(sig, &fallback, 0);
    if (info->si_code <= 0) raise(sig);
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
        /* SIGILL is blocked while the copy changes, so this thread's handler never reads
         * half of it (another thread's SIGILL meanwhile is a fault no one could order) */
        sigset_t block, previous;
        sigemptyset(&block);
        sigaddset(&block, SIGILL);
        pthread_sigmask(SIG_BLOCK, &block, &previous);
        have_chained = 0;
        chained = *action;
        have_chained = 1;
        pthread_sigmask(SIG_SETMASK, &previous, 0);
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

static mode_t mode_of(int flags, va_list args) {
    /* the mode argument exists only with O_CREAT or O_TMPFILE (which includes O_DIRECTORY) */
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) return va_arg(args, mode_t);
    return 0;
}

#define OPEN_HOOK(name)                                                        \
    int name(const char *path, int flags, ...) {                               \
        static open_fn real = 0;                                               \
        if (!real) real = (open_fn)dlsym(RTLD_NEXT, #name);                    \
        va_list args;                                                          \
        va_start(args, flags);                                                 \
        mode_t mode = mode_of(flags, args);                                    \
        va_end(args);                                                          \
        return real(redirect(path), flags, mode);                              \
    }

#define OPENAT_HOOK(name)                                                      \
    int name(int dirfd, const char *path, int flags, ...) {                    \
        static openat_fn real = 0;                                             \
        if (!real) real = (openat_fn)dlsym(RTLD_NEXT, #name);                  \
        va_list args;                                                          \
        va_start(args, flags);                                                 \
        mode_t mode = mode_of(flags, args);                                    \
        va_end(args);                                                          \
        return real(dirfd, redirect(path), flags, mode);                       \
    }

OPEN_HOOK(open)
OPEN_HOOK(open64)
OPENAT_HOOK(openat)
OPENAT_HOOK(openat64)
