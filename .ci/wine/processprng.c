/*
 * bcryptprimitives.dll with the one function Go needs, for running Windows binaries under wine.
 *
 * Why it exists: Go's runtime (1.24 and later) loads ProcessPrng from bcryptprimitives.dll at
 * startup and refuses to start without it. Debian 12's wine 8.0 has no ProcessPrng, so every
 * Go program, dbaas-proxy.exe and the test binaries included, dies under it at once. This DLL
 * provides ProcessPrng by filling the buffer with RtlGenRandom (advapi32's SystemFunction036,
 * which wine has). .ci/windows builds it with gcc-mingw-w64-x86-64-win32 and copies it into the
 * throwaway wine prefix's system32 (Go loads it from the system folder only).
 *
 * When it can go: wine 9.0 and later have bcryptprimitives.ProcessPrng; with such a wine, delete
 * this file and its build step in .ci/windows. It is never shipped: only CI under wine uses it.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
	while (length > 0) {
		ULONG n = length > 0x40000000 ? 0x40000000 : (ULONG)length;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		length -= n;
	}
	return TRUE;
}
